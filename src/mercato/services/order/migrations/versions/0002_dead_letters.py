"""order: the dead letters, event messages refused as malformed and kept for inspection.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

from collections.abc import Sequence

from mercato.platform.migration_ops import create_dead_letters, drop_dead_letters

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_dead_letters()


def downgrade() -> None:
    drop_dead_letters()
