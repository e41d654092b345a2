"""review: reviews, the purchases projection, outbox, inbox and dead letters.

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


def upgrade() -> None:
    op.create_table(
        "reviews",
        sa.Column("id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("product_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("author_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("rating", sa.SmallInteger(), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("visible", sa.Boolean(), nullable=False),
        sa.Column("hidden_by", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("rating BETWEEN 1 AND 5", name="ck_reviews_rating_range"),
        sa.PrimaryKeyConstraint("id", name="pk_reviews"),
        sa.UniqueConstraint("product_id", "author_id", name="uq_reviews_product_id_author_id"),
    )
    op.create_index(
        "ix_reviews_product_id_created_at_id",
        "reviews",
        ["product_id", "created_at", "id"],
        postgresql_where=sa.text("visible"),
    )
    op.create_table(
        "purchases",
        sa.Column("order_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("product_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("customer_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("order_id", "product_id", name="pk_purchases"),
    )
    op.create_index(
        "ix_purchases_customer_id_product_id", "purchases", ["customer_id", "product_id"]
    )
    create_event_tables()
    create_dead_letters()


def downgrade() -> None:
    drop_dead_letters()
    drop_event_tables()
    op.drop_index("ix_purchases_customer_id_product_id", "purchases")
    op.drop_table("purchases")
    op.drop_index("ix_reviews_product_id_created_at_id", "reviews")
    op.drop_table("reviews")
