"""Queries of the product database."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    REAL,
    BigInteger,
    ColumnElement,
    Integer,
    Select,
    String,
    bindparam,
    func,
    literal_column,
    null,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import UUID, aggregate_order_by, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased, joinedload

from mercato.platform.db import Prepared, Reader
from mercato.services.product.models import Category, Product, ProductImage, ReviewRating
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


def _search_query(q: Any) -> ColumnElement[Any]:
    return func.websearch_to_tsquery(literal_column(f"'{SEARCH_CONFIG}'::regconfig"), q)


# The category a product is on, joined as an alias: the slug filter's subquery reads
# ``categories`` too and must not be correlated to the join.
_shelf = aliased(Category, name="shelf")
_picture = aliased(ProductImage, name="picture")


def _pictures(*, ready_only: bool) -> ColumnElement[Any]:
    """The product's pictures, oldest first, as a JSON array of [id, key, content type, status]."""
    query = select(
        func.coalesce(
            func.json_agg(
                aggregate_order_by(
                    func.json_build_array(
                        _picture.id, _picture.key, _picture.content_type, _picture.status
                    ),
                    _picture.created_at,
                    _picture.id,
                )
            ),
            literal_column("'[]'::json"),
        )
    ).where(_picture.product_id == Product.id)
    if ready_only:
        query = query.where(_picture.status == "ready")
    return query.scalar_subquery()


def _product_columns(*, ready_only: bool) -> tuple[ColumnElement[Any], ...]:
    """A product's answer in one row: :data:`ROW` names the columns in order."""
    return (
        Product.id,
        Product.sku,
        Product.name,
        Product.description,
        Product.price_amount,
        Product.currency,
        Product.attributes,
        Product.active,
        Product.rating_count,
        Product.rating_sum,
        Product.created_at,
        Product.updated_at,
        _shelf.id.label("category_id"),
        _shelf.slug.label("category_slug"),
        _shelf.name.label("category_name"),
        _pictures(ready_only=ready_only).label("pictures"),
    )


# The columns of a product row (a listing's adds ``rank``).
ROW = (
    "id",
    "sku",
    "name",
    "description",
    "price_amount",
    "currency",
    "attributes",
    "active",
    "rating_count",
    "rating_sum",
    "created_at",
    "updated_at",
    "category_id",
    "category_slug",
    "category_name",
    "pictures",
)


@dataclass(frozen=True)
class _Shape:
    """What decides the text of a listing query (the values are its parameters)."""

    sort: ProductSort
    q: bool
    category_id: bool
    category_slug: bool
    min_price: bool
    max_price: bool
    after: bool


_KEY_TYPES: dict[ProductSort, Any] = {
    ProductSort.relevance: REAL(),
    ProductSort.newest: Product.created_at.type,
    ProductSort.price_asc: Product.price_amount.type,
    ProductSort.price_desc: Product.price_amount.type,
    ProductSort.name: Product.name.type,
}


def _effective_sort(listing: Listing) -> ProductSort:
    if listing.sort is ProductSort.relevance and listing.q is None:
        return ProductSort.newest
    return listing.sort


def _shape_statement(shape: _Shape) -> Select[Any]:
    """The listing query of ``shape``, its values left as named parameters."""
    rank: ColumnElement[Any] = null()
    query = (
        select(*_product_columns(ready_only=True))
        .select_from(Product)
        .outerjoin(_shelf, Product.category_id == _shelf.id)
        .where(Product.active)
    )
    if shape.q:
        tsquery = _search_query(bindparam("q", type_=String))
        query = query.where(Product.search.bool_op("@@")(tsquery))
        rank = func.ts_rank(Product.search, tsquery, type_=REAL)
    if shape.category_id:
        query = query.where(Product.category_id == bindparam("category_id", type_=UUID))
    if shape.category_slug:
        # Resolved inside the query (an InitPlan): one round trip, and still an index scan.
        by_slug = select(Category.id).where(
            Category.slug == bindparam("category_slug", type_=String)
        )
        query = query.where(Product.category_id == by_slug.scalar_subquery())
    if shape.min_price:
        query = query.where(Product.price_amount >= bindparam("min_price", type_=BigInteger))
    if shape.max_price:
        query = query.where(Product.price_amount <= bindparam("max_price", type_=BigInteger))

    sort = shape.sort
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
    if shape.after:
        position = tuple_(*key)
        boundary = tuple_(
            bindparam("after_key", type_=_KEY_TYPES[sort]), bindparam("after_id", type_=UUID)
        )
        query = query.where(position < boundary if descending else position > boundary)
    order = [k.desc() for k in key] if descending else list(key)
    return (
        query.add_columns(rank.label("rank"))
        .order_by(*order)
        .limit(bindparam("limit", type_=Integer))
    )


def _shape_and_values(
    listing: Listing, *, limit: int, after: list[Any] | None
) -> tuple[_Shape, dict[str, Any]]:
    shape = _Shape(
        sort=_effective_sort(listing),
        q=listing.q is not None,
        category_id=listing.category_id is not None,
        category_slug=listing.category_slug is not None,
        min_price=listing.min_price is not None,
        max_price=listing.max_price is not None,
        after=after is not None,
    )
    values: dict[str, Any] = {
        "q": listing.q,
        "category_id": listing.category_id,
        "category_slug": listing.category_slug,
        "min_price": listing.min_price,
        "max_price": listing.max_price,
        "limit": limit,
    }
    if after is not None:
        values["after_key"], values["after_id"] = after
    return shape, values


def listing_statement(listing: Listing, *, limit: int, after: list[Any] | None) -> Select[Any]:
    """The listing query: active products matching ``listing``, keyset-paged after ``after``.

    Every order is a keyset on (sort key, id) that an index on ``products`` serves (see
    the model); the full-text filter is served by the GIN index on ``search``. Each row
    is a product's answer (:data:`ROW`), then its search rank.
    """
    shape, values = _shape_and_values(listing, limit=limit, after=after)
    statement = _shape_statement(shape)
    used = {name: value for name, value in values.items() if name in _prepared(shape).names}
    return statement.params(**used)


@lru_cache(maxsize=512)
def _prepared(shape: _Shape) -> Prepared:
    return Prepared(_shape_statement(shape))


async def products_page(
    reader: Reader, listing: Listing, *, limit: int, after: list[Any] | None
) -> list[Any]:
    """Active products of the listing, ``limit`` at most: rows of :data:`ROW` plus ``rank``."""
    shape, values = _shape_and_values(listing, limit=limit, after=after)
    return await reader.fetch(_prepared(shape), values)


_PRODUCT_ROW = Prepared(
    select(*_product_columns(ready_only=False))
    .select_from(Product)
    .outerjoin(_shelf, Product.category_id == _shelf.id)
    .where(Product.id == bindparam("product_id", type_=UUID))
)


async def product_row(reader: Reader, product_id: uuid.UUID) -> Any | None:
    """The product ``product_id`` as a row of :data:`ROW` (every picture, with its status)."""
    rows = await reader.fetch(_PRODUCT_ROW, {"product_id": product_id})
    return rows[0] if rows else None


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
