"""product's tables: categories, products, their images and the reviews behind ratings."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Computed,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, TSVECTOR, UUID
from sqlalchemy.orm import Mapped, mapped_column, relationship

from mercato.platform.db import declarative_base

Base = declarative_base()

# Name outweighs description in search ranking: weight A versus B.
SEARCH_VECTOR = (
    "setweight(to_tsvector('english'::regconfig, coalesce(name, '')), 'A') || "
    "setweight(to_tsvector('english'::regconfig, coalesce(description, '')), 'B')"
)
ACTIVE = text("active")


class Category(Base):
    """A shelf of the shop, addressed by its slug."""

    __tablename__ = "categories"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Product(Base):
    """Something the shop sells, under a unique SKU."""

    __tablename__ = "products"
    # One index per listing order (the keyset is the sort key plus id), each also with the
    # category in front, so browsing a category in any order is an index range scan too.
    # Partial on ``active``: the public listing never shows the others.
    __table_args__ = (
        CheckConstraint("price_amount > 0", name="price_positive"),
        Index("ix_products_created_at_id", "created_at", "id", postgresql_where=ACTIVE),
        Index("ix_products_price_amount_id", "price_amount", "id", postgresql_where=ACTIVE),
        Index("ix_products_name_id", "name", "id", postgresql_where=ACTIVE),
        Index(
            "ix_products_category_created_at_id",
            "category_id",
            "created_at",
            "id",
            postgresql_where=ACTIVE,
        ),
        Index(
            "ix_products_category_price_amount_id",
            "category_id",
            "price_amount",
            "id",
            postgresql_where=ACTIVE,
        ),
        Index("ix_products_category_name_id", "category_id", "name", "id", postgresql_where=ACTIVE),
        # Without the fast-update pending list: catalog writes are rare, and unmerged
        # entries make every search scan the list (the planner then prefers a seq scan).
        Index(
            "ix_products_search",
            "search",
            postgresql_using="gin",
            postgresql_with={"fastupdate": "off"},
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    sku: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    price_amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    category_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("categories.id", ondelete="SET NULL")
    )
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONB)
    active: Mapped[bool] = mapped_column(Boolean)
    rating_count: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    rating_sum: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    search: Mapped[str] = mapped_column(
        TSVECTOR, Computed(SEARCH_VECTOR, persisted=True), deferred=True
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    category: Mapped[Category | None] = relationship(lazy="joined")
    images: Mapped[list[ProductImage]] = relationship(
        order_by=lambda: [ProductImage.created_at, ProductImage.id],
        lazy="selectin",
        cascade="all, delete-orphan",
    )


class ProductImage(Base):
    """A picture of a product: ``pending`` until its object is in the store, then ``ready``."""

    __tablename__ = "product_images"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    product_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("products.id", ondelete="CASCADE"), index=True
    )
    key: Mapped[str] = mapped_column(String(300))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ReviewRating(Base):
    """The latest known state of one review, as far as the rating aggregate needs it.

    Review events carry the full state of the review, so keeping the newest one per review
    makes their handling idempotent and insensitive to delivery order.
    """

    __tablename__ = "review_ratings"
    __table_args__ = (CheckConstraint("rating BETWEEN 1 AND 5", name="rating_range"),)

    review_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    product_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), index=True)
    rating: Mapped[int] = mapped_column(SmallInteger)
    visible: Mapped[bool] = mapped_column(Boolean)
    deleted: Mapped[bool] = mapped_column(Boolean)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
