"""Queries of the order database."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import delete, exists, func, literal, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import Update

from mercato.services.order.models import CartLine, CheckoutRequest, Order, OrderItem

# The checkout's hot path speaks Core to the tables: one statement per change, no identity
# map, no flush. The rows it reads come back as entities not attached to any session.
CART_LINES = CartLine.__table__
ORDERS = Order.__table__
ORDER_ITEMS = OrderItem.__table__
CHECKOUT_REQUESTS = CheckoutRequest.__table__
# What a move of an order may change.
MOVING_COLUMNS = (
    "status",
    "step",
    "reservation_id",
    "charge_id",
    "failure_reason",
    "failure_detail",
    "needs_refund",
    "cancel_requested_at",
    "attempts",
    "lease_until",
    "updated_at",
)


async def cart_lines(session: AsyncSession, user_id: uuid.UUID) -> list[CartLine]:
    """The user's cart, oldest line first."""
    rows = await session.execute(
        select(CART_LINES)
        .where(CART_LINES.c.user_id == user_id)
        .order_by(CART_LINES.c.added_at, CART_LINES.c.product_id)
    )
    return [CartLine(**row._mapping) for row in rows]


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
        insert(CART_LINES)
        .values(user_id=user_id, product_id=product_id, quantity=quantity, added_at=now)
        .on_conflict_do_update(
            index_elements=[CART_LINES.c.user_id, CART_LINES.c.product_id],
            set_={"quantity": quantity},
        )
    )


async def remove_cart_lines(
    session: AsyncSession, user_id: uuid.UUID, product_ids: list[uuid.UUID]
) -> None:
    """Removes the products from the user's cart."""
    await session.execute(
        delete(CART_LINES).where(
            CART_LINES.c.user_id == user_id, CART_LINES.c.product_id.in_(product_ids)
        )
    )


async def checkout_request(
    session: AsyncSession, user_id: uuid.UUID, key: str
) -> CheckoutRequest | None:
    """The checkout a user made with an Idempotency-Key."""
    row = (
        await session.execute(
            select(CHECKOUT_REQUESTS).where(
                CHECKOUT_REQUESTS.c.user_id == user_id, CHECKOUT_REQUESTS.c.key == key
            )
        )
    ).first()
    return None if row is None else CheckoutRequest(**row._mapping)


async def place_order(session: AsyncSession, order: Order, *, key: str, request_hash: str) -> bool:
    """Inserts a new order with its lines and claims the user's Idempotency-Key for it, in
    one statement; False when the user used the key already (roll back: the order is in).

    A concurrent claim of the same key waits for the first transaction, then does nothing.
    """
    new_order = insert(ORDERS).values({c.key: getattr(order, c.key) for c in ORDERS.c})
    new_items = insert(ORDER_ITEMS).values(
        [{c.key: getattr(item, c.key) for c in ORDER_ITEMS.c} for item in order.items]
    )
    claim = (
        insert(CHECKOUT_REQUESTS)
        .values(
            user_id=order.user_id,
            key=key,
            request_hash=request_hash,
            order_id=order.id,
            created_at=order.created_at,
        )
        .on_conflict_do_nothing(
            index_elements=[CHECKOUT_REQUESTS.c.user_id, CHECKOUT_REQUESTS.c.key]
        )
        .returning(CHECKOUT_REQUESTS.c.key)
        # Data-modifying CTEs run whether or not the statement reads them; the foreign
        # keys are checked at the end of the statement, when the order is in.
        .add_cte(new_order.cte("new_order"), new_items.cte("new_items"))
    )
    return (await session.execute(claim)).first() is not None


async def save_move(session: AsyncSession, order: Order, *, was: tuple[str, str | None]) -> bool:
    """Writes the order's move if the order still stands at ``was`` (status, step) in the
    database; False, writing nothing, when someone else moved it on.

    The UPDATE takes the row's lock and checks its WHERE again on the newest version, so
    of concurrent drivers of one order exactly one makes each move.
    """
    result = await session.execute(_move(order, was))
    return result.first() is not None


def _move(order: Order, was: tuple[str, str | None]) -> Update:
    """The order's moving columns, written where it still stands at ``was``; its id back."""
    status, step = was
    return (
        update(ORDERS)
        .where(
            ORDERS.c.id == order.id,
            ORDERS.c.status == status,
            ORDERS.c.step.is_not_distinct_from(step),
        )
        .values({column: getattr(order, column) for column in MOVING_COLUMNS})
        .returning(ORDERS.c.id)
    )


async def settle_move(
    session: AsyncSession,
    order: Order,
    *,
    was: tuple[str, str | None],
    sold: list[uuid.UUID],
    answer: tuple[int, dict[str, Any]] | None,
    now: datetime,
) -> tuple[bool, bool]:
    """:func:`save_move` for a move that settles the order, in one statement with what
    rides with it: the ``sold`` products leave the user's cart, and ``answer`` (status,
    body) is stored with the order's checkouts that have none yet (the first wins).

    Returns (moved, answer stored); nothing is written unless the order moved.
    """
    moved = _move(order, was).cte("moved")
    did_move = exists(select(moved.c.id))
    ctes = []
    if sold:
        ctes.append(
            delete(CART_LINES)
            .where(
                CART_LINES.c.user_id == order.user_id,
                CART_LINES.c.product_id.in_(sold),
                did_move,
            )
            .cte("sold")
        )
    answered_count: Any = literal(0)
    if answer is not None:
        answered = (
            update(CHECKOUT_REQUESTS)
            .where(
                CHECKOUT_REQUESTS.c.order_id == order.id,
                CHECKOUT_REQUESTS.c.response_status.is_(None),
                did_move,
            )
            .values(response_status=answer[0], response_body=answer[1], completed_at=now)
            .returning(CHECKOUT_REQUESTS.c.key)
            .cte("answered")
        )
        answered_count = select(func.count()).select_from(answered).scalar_subquery()
    query = select(did_move, answered_count)
    if ctes:
        query = query.add_cte(*ctes)
    row = (await session.execute(query)).one()
    return bool(row[0]), bool(row[1])


async def complete_checkout_requests(
    session: AsyncSession, *, order_id: uuid.UUID, status: int, body: dict[str, Any], now: datetime
) -> int:
    """Stores the response of checkouts of the order that have none yet (the first wins).

    Returns how many it completed.
    """
    result = await session.execute(
        update(CHECKOUT_REQUESTS)
        .where(
            CHECKOUT_REQUESTS.c.order_id == order_id,
            CHECKOUT_REQUESTS.c.response_status.is_(None),
        )
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
