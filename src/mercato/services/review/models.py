"""review's tables: the reviews, and who bought what (a projection of order's events)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    Index,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from mercato.platform.db import declarative_base

Base = declarative_base()

TITLE_MAX_LENGTH = 200
BODY_MAX_LENGTH = 5000


class Review(Base):
    """A customer's opinion of a product they bought: one per customer and product."""

    __tablename__ = "reviews"
    __table_args__ = (
        CheckConstraint("rating BETWEEN 1 AND 5", name="rating_range"),
        UniqueConstraint("product_id", "author_id", name="uq_reviews_product_id_author_id"),
        # The public listing: a product's visible reviews, newest first.
        Index(
            "ix_reviews_product_id_created_at_id",
            "product_id",
            "created_at",
            "id",
            postgresql_where=text("visible"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    product_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    author_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    rating: Mapped[int] = mapped_column(SmallInteger)
    title: Mapped[str] = mapped_column(String(TITLE_MAX_LENGTH))
    body: Mapped[str] = mapped_column(Text)
    visible: Mapped[bool] = mapped_column(Boolean)
    hidden_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Purchase(Base):
    """A product in one of a customer's orders, and where that order stands.

    Kept from ``order.confirmed`` / ``order.cancelled`` / ``order.refunded``; a cancelled or
    refunded order never becomes confirmed again, so the projection is insensitive to the
    order its events arrive in.
    """

    __tablename__ = "purchases"
    __table_args__ = (Index("ix_purchases_customer_id_product_id", "customer_id", "product_id"),)

    order_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    product_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    status: Mapped[str] = mapped_column(String(16))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
