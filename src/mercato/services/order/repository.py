"""Queries of the order database."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from mercato.services.order.models import CartLine, CheckoutRequest, Order


async def cart_lines(session: AsyncSession, user_id: uuid.UUID) -> list[CartLine]:
    """The user's cart, oldest line first."""
    query = (
        select(CartLine)
        .where(CartLine.user_id == user_id)
        .order_by(CartLine.added_at, CartLine.product_id)
    )
    return list((await session.scalars(query)).all())


async def put_cart_line(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    product_id: uuid.UUID,
    quantity: int,
    now: datetime,
) -> None:
    """Sets the quantity of a product in the cart, adding the line if needed."""
    await session.execute(
        insert(CartLine)
        .values(user_id=user_id, product_id=product_id, quantity=quantity, added_at=now)
        .on_conflict_do_update(
            index_elements=[CartLine.user_id, CartLine.product_id],
            set_={"quantity": quantity},
        )
    )


async def remove_cart_lines(
    session: AsyncSession, user_id: uuid.UUID, product_ids: list[uuid.UUID]
) -> None:
    """Removes the products from the user's cart."""
    await session.execute(
        delete(CartLine).where(CartLine.user_id == user_id, CartLine.product_id.in_(product_ids))
    )


async def checkout_request(
    session: AsyncSession, user_id: uuid.UUID, key: str
) -> CheckoutRequest | None:
    """The checkout a user made with an Idempotency-Key."""
    return await session.get(CheckoutRequest, (user_id, key), populate_existing=True)


async def claim_checkout_key(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    key: str,
    request_hash: str,
    order_id: uuid.UUID,
    now: datetime,
) -> bool:
    """Records the key for a new order unless the user used it already; True when claimed.

    A concurrent claim of the same key waits for the first transaction, then does nothing.
    """
    result = await session.execute(
        insert(CheckoutRequest)
        .values(
            user_id=user_id, key=key, request_hash=request_hash, order_id=order_id, created_at=now
        )
        .on_conflict_do_nothing(index_elements=[CheckoutRequest.user_id, CheckoutRequest.key])
        .returning(CheckoutRequest.key)
    )
    return result.first() is not None


async def complete_checkout_requests(
    session: AsyncSession, *, order_id: uuid.UUID, status: int, body: dict[str, Any], now: datetime
) -> int:
    """Stores the response of checkouts of the order that have none yet (the first wins).

    Returns how many it completed.
    """
    result = await session.execute(
        update(CheckoutRequest)
        .where(CheckoutRequest.order_id == order_id, CheckoutRequest.response_status.is_(None))
        .values(response_status=status, response_body=body, completed_at=now)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def forget_checkout_requests(session: AsyncSession, *, before: datetime) -> int:
    """Deletes finished checkout keys created before ``before``; returns how many."""
    result = await session.execute(
        delete(CheckoutRequest).where(
            CheckoutRequest.created_at < before, CheckoutRequest.response_status.is_not(None)
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def order(session: AsyncSession, order_id: uuid.UUID) -> Order | None:
    """The order ``order_id`` with its lines."""
    return await session.get(Order, order_id, populate_existing=True)


async def order_for_update(session: AsyncSession, order_id: uuid.UUID) -> Order | None:
    """The order ``order_id``, locked until the transaction ends."""
    return await session.get(Order, order_id, with_for_update=True, populate_existing=True)


async def orders_page(
    session: AsyncSession,
    *,
    user_id: uuid.UUID | None,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None,
) -> list[Order]:
    """Orders newest first, of one user or of everyone."""
    query = select(Order).order_by(Order.created_at.desc(), Order.id.desc()).limit(limit)
    if user_id is not None:
        query = query.where(Order.user_id == user_id)
    if after is not None:
        query = query.where(tuple_(Order.created_at, Order.id) < tuple_(*after))
    return list((await session.scalars(query)).all())


async def claim_due_orders(
    session: AsyncSession, *, now: datetime, lease_until: datetime, limit: int
) -> list[uuid.UUID]:
    """Takes over orders with work left whose lease ran out; several replicas never share one."""
    due = (
        select(Order.id)
        .where(Order.step.is_not(None), Order.lease_until < now)
        .order_by(Order.lease_until)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    result = await session.execute(
        update(Order)
        .where(Order.id.in_(due))
        .values(lease_until=lease_until)
        .returning(Order.id)
        .execution_options(synchronize_session=False)
    )
    return list(result.scalars().all())
