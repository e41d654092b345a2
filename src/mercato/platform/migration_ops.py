"""Migration operations for the chassis' own tables, used inside service migrations.

The tables are declared once, in :mod:`mercato.platform.envelope`; these operations create
them from that declaration, so migrations and models cannot drift apart.
"""

from __future__ import annotations

from alembic import op

from mercato.platform.envelope import event_tables


def _create(*names: str) -> None:
    tables = event_tables().tables
    for name in names:
        tables[name].create(op.get_bind())


def create_event_tables() -> None:
    """Creates the outbox and inbox tables (every service's first migration)."""
    _create("outbox", "inbox")


def drop_event_tables() -> None:
    """Drops the outbox and inbox tables."""
    op.drop_table("inbox")
    op.drop_index("ix_outbox_unpublished", "outbox")
    op.drop_table("outbox")


def create_dead_letters() -> None:
    """Creates the table of refused event messages."""
    _create("dead_letters")


def drop_dead_letters() -> None:
    """Drops the table of refused event messages."""
    op.drop_table("dead_letters")
