"""payment: payment methods, charges, refunds, the sandbox's tables, outbox and inbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from mercato.platform.migration_ops import create_event_tables, drop_event_tables

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "payment_methods",
        sa.Column("id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("customer_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("brand", sa.String(20), nullable=False),
        sa.Column("last4", sa.String(4), nullable=False),
        sa.Column("exp_month", sa.SmallInteger(), nullable=False),
        sa.Column("exp_year", sa.SmallInteger(), nullable=False),
        sa.Column("processor_token", sa.String(100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_payment_methods"),
    )
    op.create_index(
        "ix_payment_methods_customer_id_created_at",
        "payment_methods",
        ["customer_id", "created_at"],
    )
    op.create_table(
        "charges",
        sa.Column("id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("principal", sa.String(200), nullable=False),
        sa.Column("idempotency_key", sa.String(200), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("order_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("customer_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("payment_method_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("decline_code", sa.String(50), nullable=True),
        sa.Column("refunded_amount", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount > 0", name="ck_charges_amount_positive"),
        sa.CheckConstraint(
            "refunded_amount >= 0 AND refunded_amount <= amount",
            name="ck_charges_refunded_within_amount",
        ),
        sa.ForeignKeyConstraint(
            ["payment_method_id"],
            ["payment_methods.id"],
            name="fk_charges_payment_method_id_payment_methods",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_charges"),
        sa.UniqueConstraint("principal", "idempotency_key", name="uq_charges_principal_key"),
    )
    op.create_index("ix_charges_order_id", "charges", ["order_id"])
    op.create_index("ix_charges_created_at_id", "charges", ["created_at", "id"])
    op.create_index(
        "ix_charges_customer_id_created_at_id", "charges", ["customer_id", "created_at", "id"]
    )
    op.create_index(
        "ix_charges_processing",
        "charges",
        ["created_at"],
        postgresql_where=sa.text("status = 'processing'"),
    )
    op.create_table(
        "refunds",
        sa.Column("id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("charge_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount > 0", name="ck_refunds_amount_positive"),
        sa.ForeignKeyConstraint(["charge_id"], ["charges.id"], name="fk_refunds_charge_id_charges"),
        sa.PrimaryKeyConstraint("id", name="pk_refunds"),
    )
    op.create_index("ix_refunds_charge_id", "refunds", ["charge_id"])
    op.create_index(
        "ix_refunds_pending",
        "refunds",
        ["created_at"],
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_table(
        "sandbox_cards",
        sa.Column("token", sa.String(100), nullable=False),
        sa.Column("behaviour", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("token", name="pk_sandbox_cards"),
    )
    op.create_table(
        "sandbox_charges",
        sa.Column("id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("token", sa.String(100), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("decline_code", sa.String(50), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_sandbox_charges"),
    )
    op.create_table(
        "sandbox_refunds",
        sa.Column("id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("charge_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["charge_id"],
            ["sandbox_charges.id"],
            name="fk_sandbox_refunds_charge_id_sandbox_charges",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_sandbox_refunds"),
    )
    op.create_index("ix_sandbox_refunds_charge_id", "sandbox_refunds", ["charge_id"])
    create_event_tables()


def downgrade() -> None:
    drop_event_tables()
    op.drop_index("ix_sandbox_refunds_charge_id", "sandbox_refunds")
    op.drop_table("sandbox_refunds")
    op.drop_table("sandbox_charges")
    op.drop_table("sandbox_cards")
    op.drop_index("ix_refunds_pending", "refunds")
    op.drop_index("ix_refunds_charge_id", "refunds")
    op.drop_table("refunds")
    op.drop_index("ix_charges_processing", "charges")
    op.drop_index("ix_charges_customer_id_created_at_id", "charges")
    op.drop_index("ix_charges_created_at_id", "charges")
    op.drop_index("ix_charges_order_id", "charges")
    op.drop_table("charges")
    op.drop_index("ix_payment_methods_customer_id_created_at", "payment_methods")
    op.drop_table("payment_methods")
