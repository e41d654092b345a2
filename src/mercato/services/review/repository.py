"""Queries of the review database."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import delete, exists, select, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from mercato.services.review.models import Purchase, Review

CONFIRMED = "confirmed"


async def insert_review_unless_written(
    session: AsyncSession, values: dict[str, Any]
) -> Review | None:
    """Creates the review; None when its author reviewed the product already."""
    review_id = await session.scalar(
        insert(Review)
        .values(**values)
        .on_conflict_do_nothing(index_elements=[Review.product_id, Review.author_id])
        .returning(Review.id)
    )
    return None if review_id is None else await session.get(Review, review_id)


async def review_id_by_author(
    session: AsyncSession, *, product_id: uuid.UUID, author_id: uuid.UUID
) -> uuid.UUID | None:
    """The id of the review ``author_id`` wrote of ``product_id``."""
    return await session.scalar(
        select(Review.id).where(Review.product_id == product_id, Review.author_id == author_id)
    )


async def review_for_update(session: AsyncSession, review_id: uuid.UUID) -> Review | None:
    """The review ``review_id``, locked until the transaction ends."""
    return await session.scalar(
        select(Review)
        .where(Review.id == review_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


async def delete_review(session: AsyncSession, review_id: uuid.UUID) -> None:
    """Removes the review ``review_id``."""
    await session.execute(delete(Review).where(Review.id == review_id))


async def visible_reviews_page(
    session: AsyncSession,
    *,
    product_id: uuid.UUID,
    limit: int,
    before: tuple[datetime, uuid.UUID] | None,
) -> list[Review]:
    """The product's visible reviews, newest first, ``limit`` of them before ``before``."""
    query = select(Review).where(Review.product_id == product_id, Review.visible)
    if before is not None:
        query = query.where(tuple_(Review.created_at, Review.id) < tuple_(*before))
    query = query.order_by(Review.created_at.desc(), Review.id.desc()).limit(limit)
    return list((await session.scalars(query)).all())


async def has_confirmed_purchase(
    session: AsyncSession, *, customer_id: uuid.UUID, product_id: uuid.UUID
) -> bool:
    """True when an order of ``customer_id`` holding ``product_id`` stands confirmed."""
    return bool(
        await session.scalar(
            select(
                exists().where(
                    Purchase.customer_id == customer_id,
                    Purchase.product_id == product_id,
                    Purchase.status == CONFIRMED,
                )
            )
        )
    )


async def record_purchases(
    session: AsyncSession,
    *,
    order_id: uuid.UUID,
    customer_id: uuid.UUID,
    product_ids: set[uuid.UUID],
    status: str,
    updated_at: datetime,
) -> None:
    """Keeps where the order's products stand; a confirmation never undoes a cancellation."""
    if not product_ids:
        return
    statement = insert(Purchase).values(
        [
            {
                "order_id": order_id,
                "product_id": product_id,
                "customer_id": customer_id,
                "status": status,
                "updated_at": updated_at,
            }
            for product_id in sorted(product_ids)
        ]
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[Purchase.order_id, Purchase.product_id],
            set_={"status": statement.excluded.status, "updated_at": statement.excluded.updated_at},
            where=statement.excluded.status != CONFIRMED,
        )
    )
