"""log: log records, the audit trail and its chain head, outbox, inbox and dead letters.

Revision ID: 0001
Revises:
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from mercato.platform.migration_ops import (
    create_dead_letters,
    create_event_tables,
    drop_dead_letters,
    drop_event_tables,
)

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LOG_SEARCH = "to_tsvector('simple', coalesce(message, '') || ' ' || coalesce(logger, ''))"


def upgrade() -> None:
    op.create_table(
        "log_records",
        sa.Column("id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("service", sa.String(64), nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("severity", sa.SmallInteger(), nullable=False),
        sa.Column("logger", sa.String(200), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("request_id", sa.String(200), nullable=True),
        sa.Column("trace_id", sa.String(32), nullable=True),
        sa.Column("user_id", sa.String(100), nullable=True),
        sa.Column("attributes", postgresql.JSONB(), nullable=False),
        sa.Column(
            "search", postgresql.TSVECTOR(), sa.Computed(LOG_SEARCH, persisted=True), nullable=True
        ),
        sa.PrimaryKeyConstraint("id", name="pk_log_records"),
    )
    op.create_index("ix_log_records_at_id", "log_records", ["at", "id"])
    op.create_index("ix_log_records_service_at", "log_records", ["service", "at"])
    op.create_index("ix_log_records_severity_at", "log_records", ["severity", "at"])
    op.create_index(
        "ix_log_records_request_id",
        "log_records",
        ["request_id"],
        postgresql_where=sa.text("request_id IS NOT NULL"),
    )
    op.create_index("ix_log_records_search", "log_records", ["search"], postgresql_using="gin")
    op.create_table(
        "audit_records",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(100), nullable=True),
        sa.Column("action", sa.String(100), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("detail", postgresql.JSONB(), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_audit_records"),
        sa.UniqueConstraint("id", name="uq_audit_records_id"),
    )
    op.create_index("ix_audit_records_at_seq", "audit_records", ["at", "seq"])
    op.create_index("ix_audit_records_actor_seq", "audit_records", ["actor", "seq"])
    op.create_index("ix_audit_records_action_seq", "audit_records", ["action", "seq"])
    head = op.create_table(
        "audit_chain_head",
        sa.Column("id", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("length", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_chain_head"),
    )
    op.bulk_insert(head, [{"id": 1, "length": 0, "hash": "0" * 64}])
    create_event_tables()
    create_dead_letters()


def downgrade() -> None:
    drop_dead_letters()
    drop_event_tables()
    op.drop_table("audit_chain_head")
    op.drop_index("ix_audit_records_action_seq", "audit_records")
    op.drop_index("ix_audit_records_actor_seq", "audit_records")
    op.drop_index("ix_audit_records_at_seq", "audit_records")
    op.drop_table("audit_records")
    op.drop_index("ix_log_records_search", "log_records")
    op.drop_index("ix_log_records_request_id", "log_records")
    op.drop_index("ix_log_records_severity_at", "log_records")
    op.drop_index("ix_log_records_service_at", "log_records")
    op.drop_index("ix_log_records_at_id", "log_records")
    op.drop_table("log_records")
