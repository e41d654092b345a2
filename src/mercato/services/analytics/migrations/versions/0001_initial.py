"""analytics: daily counters of sales, products, funnel, carts and users; the event tables.

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


def _counter(name: str) -> sa.Column[int]:
    return sa.Column(name, sa.Integer(), server_default=sa.text("0"), nullable=False)


def _amount(name: str) -> sa.Column[int]:
    return sa.Column(name, sa.BigInteger(), server_default=sa.text("0"), nullable=False)


def upgrade() -> None:
    op.create_table(
        "daily_sales",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        _counter("orders"),
        _amount("gross_amount"),
        _counter("refunded_orders"),
        _amount("refunded_amount"),
        sa.PrimaryKeyConstraint("day", "currency", name="pk_daily_sales"),
    )
    op.create_table(
        "daily_product_sales",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("product_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("sku", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        _counter("quantity"),
        _amount("revenue_amount"),
        sa.PrimaryKeyConstraint("day", "product_id", "currency", name="pk_daily_product_sales"),
    )
    op.create_table(
        "daily_funnel",
        sa.Column("day", sa.Date(), nullable=False),
        _counter("orders_created"),
        _counter("orders_confirmed"),
        _counter("orders_failed"),
        _counter("orders_cancelled"),
        _counter("orders_refunded"),
        sa.PrimaryKeyConstraint("day", name="pk_daily_funnel"),
    )
    op.create_table(
        "cart_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("user_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.PrimaryKeyConstraint("day", "user_id", name="pk_cart_days"),
    )
    op.create_table(
        "daily_users",
        sa.Column("day", sa.Date(), nullable=False),
        _counter("users"),
        sa.PrimaryKeyConstraint("day", name="pk_daily_users"),
    )
    create_event_tables()
    create_dead_letters()


def downgrade() -> None:
    drop_dead_letters()
    drop_event_tables()
    for table in ("daily_users", "cart_days", "daily_funnel", "daily_product_sales", "daily_sales"):
        op.drop_table(table)
