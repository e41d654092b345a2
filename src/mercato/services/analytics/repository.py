"""Queries of the analytics database: adding to a day's counters, reading a period's."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import Row, func, select
from sqlalchemy.dialects.postgresql import aggregate_order_by, array_agg, insert
from sqlalchemy.ext.asyncio import AsyncSession

from mercato.services.analytics.models import (
    CartDay,
    DailyFunnel,
    DailyProductSales,
    DailySales,
    DailyUsers,
)


async def _add(
    session: AsyncSession,
    model: type[Any],
    key: dict[str, Any],
    counts: dict[str, int],
    *,
    replace: dict[str, Any] | None = None,
) -> None:
    """Adds ``counts`` to the row of ``key``, creating it at zero first (one statement)."""
    table = model.__table__
    statement = insert(table).values(**key, **counts, **(replace or {}))
    statement = statement.on_conflict_do_update(
        index_elements=list(key),
        set_={
            **{name: table.c[name] + statement.excluded[name] for name in counts},
            **{name: statement.excluded[name] for name in replace or {}},
        },
    )
    await session.execute(statement)


async def add_funnel(session: AsyncSession, day: date, **counts: int) -> None:
    """Adds to a day's order counts (``orders_created=1``, ...)."""
    await _add(session, DailyFunnel, {"day": day}, counts)


async def add_sales(
    session: AsyncSession,
    day: date,
    currency: str,
    *,
    orders: int = 0,
    gross_amount: int = 0,
    refunded_orders: int = 0,
    refunded_amount: int = 0,
) -> None:
    """Adds to a day's sales in one currency."""
    await _add(
        session,
        DailySales,
        {"day": day, "currency": currency},
        {
            "orders": orders,
            "gross_amount": gross_amount,
            "refunded_orders": refunded_orders,
            "refunded_amount": refunded_amount,
        },
    )


async def add_product_sales(
    session: AsyncSession,
    day: date,
    currency: str,
    *,
    product_id: uuid.UUID,
    sku: str,
    name: str,
    quantity: int,
    revenue_amount: int,
) -> None:
    """Adds (or, given negative numbers, takes back) units of a product sold on a day."""
    await _add(
        session,
        DailyProductSales,
        {"day": day, "product_id": product_id, "currency": currency},
        {"quantity": quantity, "revenue_amount": revenue_amount},
        replace={"sku": sku, "name": name},
    )


async def add_cart(session: AsyncSession, day: date, user_id: uuid.UUID) -> None:
    """Remembers that the customer's cart got an item on ``day`` (once per day)."""
    await session.execute(insert(CartDay).values(day=day, user_id=user_id).on_conflict_do_nothing())


async def add_users(session: AsyncSession, day: date, users: int) -> None:
    """Adds to a day's new accounts."""
    await _add(session, DailyUsers, {"day": day}, {"users": users})


# -- reading ------------------------------------------------------------------------------


async def sales(
    session: AsyncSession, first: date, last: date, currency: str
) -> Sequence[DailySales]:
    """The days of ``first``..``last`` that have sales in ``currency``."""
    return (
        await session.scalars(
            select(DailySales).where(
                DailySales.day.between(first, last), DailySales.currency == currency
            )
        )
    ).all()


async def top_products(
    session: AsyncSession, first: date, last: date, currency: str, limit: int
) -> Sequence[Row[uuid.UUID, str, str, int, int]]:
    """The products that sold most units over the period, with the name they sold under last."""
    sold = func.sum(DailyProductSales.quantity)
    revenue = func.sum(DailyProductSales.revenue_amount)
    newest_first = DailyProductSales.day.desc()
    return (
        await session.execute(
            select(
                DailyProductSales.product_id,
                _newest(DailyProductSales.sku, newest_first).label("sku"),
                _newest(DailyProductSales.name, newest_first).label("name"),
                sold.label("quantity"),
                revenue.label("revenue_amount"),
            )
            .where(
                DailyProductSales.day.between(first, last),
                DailyProductSales.currency == currency,
            )
            .group_by(DailyProductSales.product_id)
            .having(sold > 0)
            .order_by(sold.desc(), revenue.desc(), DailyProductSales.product_id)
            .limit(limit)
        )
    ).all()


def _newest(column: Any, order: Any) -> Any:
    """The value of ``column`` on the first row in ``order`` (PostgreSQL has no first())."""
    return array_agg(aggregate_order_by(column, order))[1]  # type: ignore[no-untyped-call]


async def funnel(session: AsyncSession, first: date, last: date) -> dict[str, int]:
    """The period's order counts by name, summed over its days (zeros when it has none)."""
    columns = (
        DailyFunnel.orders_created,
        DailyFunnel.orders_confirmed,
        DailyFunnel.orders_failed,
        DailyFunnel.orders_cancelled,
        DailyFunnel.orders_refunded,
    )
    sums = (
        await session.execute(
            select(*(func.coalesce(func.sum(c), 0).label(c.key) for c in columns)).where(
                DailyFunnel.day.between(first, last)
            )
        )
    ).one()
    return {name: int(value) for name, value in sums._mapping.items()}


async def carts(session: AsyncSession, first: date, last: date) -> int:
    """Distinct carts (customers) that got an item during the period."""
    counted = await session.scalar(
        select(func.count(func.distinct(CartDay.user_id))).where(CartDay.day.between(first, last))
    )
    return int(counted or 0)


async def users(session: AsyncSession, first: date, last: date) -> Sequence[DailyUsers]:
    """The days of ``first``..``last`` on which accounts were registered."""
    return (
        await session.scalars(select(DailyUsers).where(DailyUsers.day.between(first, last)))
    ).all()
