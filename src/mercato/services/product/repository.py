"""Queries of the product database."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    REAL,
    ColumnElement,
    Select,
    func,
    literal,
    literal_column,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from mercato.services.product.models import Category, Product, ReviewRating
from mercato.services.product.schemas import ProductSort

SEARCH_CONFIG = "english"


@dataclass(frozen=True)
class Listing:
    """What the public listing filters on and how it orders."""

    sort: ProductSort
    q: str | None = None
    category_id: uuid.UUID | None = None
    category_slug: str | None = None
    min_price: int | None = None
    max_price: int | None = None


async def category(session: AsyncSession, category_id: uuid.UUID) -> Category | None:
    """The category ``category_id``."""
    return await session.get(Category, category_id)


async def category_by_slug(session: AsyncSession, slug: str) -> Category | None:
    """The category called ``slug``."""
    return await session.scalar(select(Category).where(Category.slug == slug))


async def insert_category_unless_taken(
    session: AsyncSession, *, slug: str, name: str, now: datetime
) -> Category | None:
    """Creates the category; None when its slug is taken."""
    category_id = await session.scalar(
        insert(Category)
        .values(id=uuid.uuid4(), slug=slug, name=name, created_at=now)
        .on_conflict_do_nothing(index_elements=[Category.slug])
        .returning(Category.id)
    )
    return None if category_id is None else await session.get(Category, category_id)


async def categories_page(
    session: AsyncSession, *, limit: int, after: str | None
) -> list[Category]:
    """Categories by slug, ``limit`` of them after the slug ``after``."""
    query = select(Category).order_by(Category.slug).limit(limit)
    if after is not None:
        query = query.where(Category.slug > after)
    return list((await session.scalars(query)).all())


async def product(
    session: AsyncSession, product_id: uuid.UUID, *, for_update: bool = False
) -> Product | None:
    """The product ``product_id`` with its category and images (locked if ``for_update``)."""
    # Pictures joined in: one round trip instead of two.
    query = select(Product).where(Product.id == product_id).options(joinedload(Product.images))
    if for_update:
        # Only the product's row: category and pictures are on the nullable side of joins.
        query = query.with_for_update(of=Product).execution_options(populate_existing=True)
    return (await session.execute(query)).unique().scalar_one_or_none()


async def product_id_by_sku(session: AsyncSession, sku: str) -> uuid.UUID | None:
    """The id of the product sold under ``sku``."""
    return await session.scalar(select(Product.id).where(Product.sku == sku))


async def insert_product_unless_sku_taken(
    session: AsyncSession, values: dict[str, Any]
) -> uuid.UUID | None:
    """Creates the product; None when its SKU is taken (by a concurrent insert too)."""
    return await session.scalar(
        insert(Product)
        .values(**values)
        .on_conflict_do_nothing(index_elements=[Product.sku])
        .returning(Product.id)
    )


def _search_query(q: str) -> ColumnElement[Any]:
    return func.websearch_to_tsquery(literal_column(f"'{SEARCH_CONFIG}'::regconfig"), q)


def listing_statement(listing: Listing, *, limit: int, after: list[Any] | None) -> Select[Any]:
    """The listing query: active products matching ``listing``, keyset-paged after ``after``.

    Every order is a keyset on (sort key, id) that an index on ``products`` serves (see
    the model); the full-text filter is served by the GIN index on ``search``.
    """
    rank: ColumnElement[Any] = literal(None)
    query = select(Product).where(Product.active)
    if listing.q is not None:
        tsquery = _search_query(listing.q)
        query = query.where(Product.search.bool_op("@@")(tsquery))
        rank = func.ts_rank(Product.search, tsquery, type_=REAL)
    if listing.category_id is not None:
        query = query.where(Product.category_id == listing.category_id)
    if listing.category_slug is not None:
        # Resolved inside the query (an InitPlan): one round trip, and still an index scan.
        by_slug = select(Category.id).where(Category.slug == listing.category_slug)
        query = query.where(Product.category_id == by_slug.scalar_subquery())
    if listing.min_price is not None:
        query = query.where(Product.price_amount >= listing.min_price)
    if listing.max_price is not None:
        query = query.where(Product.price_amount <= listing.max_price)

    sort = listing.sort
    if sort is ProductSort.relevance and listing.q is None:
        sort = ProductSort.newest
    key: tuple[ColumnElement[Any], ...]
    descending = sort in (ProductSort.newest, ProductSort.price_desc, ProductSort.relevance)
    if sort is ProductSort.relevance:
        key = (rank, Product.id)
    elif sort is ProductSort.newest:
        key = (Product.created_at, Product.id)
    elif sort in (ProductSort.price_asc, ProductSort.price_desc):
        key = (Product.price_amount, Product.id)
    else:
        key = (Product.name, Product.id)
    if after is not None:
        position = tuple_(*key)
        boundary = tuple_(*(literal(v, k.type) for v, k in zip(after, key, strict=True)))
        query = query.where(position < boundary if descending else position > boundary)
    order = [k.desc() for k in key] if descending else list(key)
    return query.add_columns(rank.label("rank")).order_by(*order).limit(limit)


async def products_page(
    session: AsyncSession, listing: Listing, *, limit: int, after: list[Any] | None
) -> list[tuple[Product, float | None]]:
    """Active products of the listing with their search rank, ``limit`` at most."""
    rows = await session.execute(listing_statement(listing, limit=limit, after=after))
    return [(row[0], row[1]) for row in rows.all()]


async def remember_review(
    session: AsyncSession,
    *,
    review_id: uuid.UUID,
    product_id: uuid.UUID,
    rating: int,
    visible: bool,
    deleted: bool,
    updated_at: datetime,
) -> bool:
    """Keeps this state of the review if it is newer than the one known; True if kept.

    A deletion is final: nothing that arrives after it (a late, older update) revives
    the review.
    """
    statement = insert(ReviewRating).values(
        review_id=review_id,
        product_id=product_id,
        rating=rating,
        visible=visible,
        deleted=deleted,
        updated_at=updated_at,
    )
    kept = await session.scalar(
        statement.on_conflict_do_update(
            index_elements=[ReviewRating.review_id],
            set_={
                "rating": statement.excluded.rating,
                "visible": statement.excluded.visible,
                "deleted": statement.excluded.deleted,
                "updated_at": statement.excluded.updated_at,
            },
            where=(~ReviewRating.deleted)
            & (
                (statement.excluded.updated_at > ReviewRating.updated_at)
                | statement.excluded.deleted
            ),
        ).returning(ReviewRating.review_id)
    )
    return kept is not None


async def lock_product(session: AsyncSession, product_id: uuid.UUID) -> bool:
    """Locks the product's row until the transaction ends; False when there is none."""
    locked = await session.scalar(
        select(Product.id).where(Product.id == product_id).with_for_update()
    )
    return locked is not None


async def recount_rating(session: AsyncSession, product_id: uuid.UUID) -> None:
    """Recomputes the product's rating aggregate from its visible reviews."""
    count, total = (
        await session.execute(
            select(func.count(), func.coalesce(func.sum(ReviewRating.rating), 0)).where(
                ReviewRating.product_id == product_id,
                ReviewRating.visible,
                ~ReviewRating.deleted,
            )
        )
    ).one()
    await session.execute(
        update(Product).where(Product.id == product_id).values(rating_count=count, rating_sum=total)
    )
