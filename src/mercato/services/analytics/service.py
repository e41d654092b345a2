"""analytics' use cases: counting events into daily counters, and reading reports of a period.

Fed only by events; it never calls another service. Every event counts on the UTC day of its
``time`` (when its producer made the change). Revenue counts when an order is confirmed and is
taken back on the day the order is cancelled or refunded, so a day already past never changes
(ADR 0032). The chassis' inbox makes each handler run once per event, whatever the redeliveries.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from mercato.contracts.auth import UserRegistered
from mercato.contracts.order import CartItemAdded, OrderState
from mercato.platform.db import UnitOfWork, utcnow
from mercato.platform.envelope import Event
from mercato.platform.errors import ValidationFailed
from mercato.services.analytics import repository
from mercato.services.analytics.schemas import Funnel, Money, NewUsersDay, SalesDay, TopProduct
from mercato.services.analytics.settings import Settings

# The funnel counter each order event adds one to.
FUNNEL_STEPS = {
    "order.created": "orders_created",
    "order.confirmed": "orders_confirmed",
    "order.failed": "orders_failed",
    "order.cancelled": "orders_cancelled",
    "order.refunded": "orders_refunded",
}
# Order events that give the customer their money back: the sale is taken back.
TAKEN_BACK = ("order.cancelled", "order.refunded")


def day_of(moment: datetime) -> date:
    """The UTC day of ``moment``."""
    return moment.astimezone(UTC).date()


async def count_order(event: Event[OrderState], uow: UnitOfWork) -> None:
    """Handles ``order.*``: the funnel step, and the sale when confirmed or taken back."""
    order, day = event.payload, day_of(event.time)
    await repository.add_funnel(uow.session, day, **{FUNNEL_STEPS[event.type]: 1})
    if event.type == "order.confirmed":
        sign = 1
        await repository.add_sales(
            uow.session, day, order.total.currency, orders=1, gross_amount=order.total.amount
        )
    elif event.type in TAKEN_BACK:
        sign = -1
        await repository.add_sales(
            uow.session,
            day,
            order.total.currency,
            refunded_orders=1,
            refunded_amount=order.total.amount,
        )
    else:
        return
    for line in order.items:
        await repository.add_product_sales(
            uow.session,
            day,
            line.unit_price.currency,
            product_id=line.product_id,
            sku=line.sku,
            name=line.name,
            quantity=sign * line.quantity,
            revenue_amount=sign * line.quantity * line.unit_price.amount,
        )


async def count_cart(event: Event[CartItemAdded], uow: UnitOfWork) -> None:
    """Handles ``order.cart_item_added``: the customer's cart is one of the day's carts."""
    await repository.add_cart(uow.session, day_of(event.time), event.payload.user_id)


async def count_registration(event: Event[UserRegistered], uow: UnitOfWork) -> None:
    """Handles ``user.registered``: one more new account that day."""
    await repository.add_users(uow.session, day_of(event.time), 1)


@dataclass(frozen=True)
class Period:
    """The UTC days a report covers, ``first`` to ``last`` inclusive."""

    first: date
    last: date

    @classmethod
    def of(
        cls,
        first: date | None,
        last: date | None,
        *,
        today: date,
        default_days: int,
        max_days: int,
    ) -> Period:
        """The period asked for: ``to`` defaults to today, ``from`` to ``default_days`` before.

        Raises ValidationFailed (422) when ``from`` is after ``to`` or the period is longer
        than ``max_days``.
        """
        last = last or today
        first = first or last - timedelta(days=default_days - 1)
        if first > last:
            raise ValidationFailed(
                "'from' is after 'to'.",
                errors=[{"loc": ["query", "from"], "msg": "must not be after 'to'"}],
            )
        if (last - first).days + 1 > max_days:
            raise ValidationFailed(
                f"A report covers at most {max_days} days.",
                errors=[{"loc": ["query", "to"], "msg": f"at most {max_days} days after 'from'"}],
            )
        return cls(first, last)

    def days(self) -> list[date]:
        """Every day of the period, in order."""
        return [self.first + timedelta(days=n) for n in range((self.last - self.first).days + 1)]


class Reports:
    """The report use cases; each reads in its own unit of work."""

    def __init__(self, *, settings: Settings, unit_of_work: Callable[[], UnitOfWork]) -> None:
        self._settings = settings
        self._uow = unit_of_work

    def period(self, first: date | None, last: date | None) -> Period:
        """The period a request asks for, checked against this service's bounds."""
        return Period.of(
            first,
            last,
            today=day_of(utcnow()),
            default_days=self._settings.default_report_days,
            max_days=self._settings.max_report_days,
        )

    def _money(self, amount: int) -> Money:
        return Money(amount=amount, currency=self._settings.currency)

    async def sales(self, period: Period) -> list[SalesDay]:
        """Every day of the period with its orders and revenue (zeros on a day without)."""
        async with self._uow() as uow:
            rows = await repository.sales(
                uow.session, period.first, period.last, self._settings.currency
            )
        by_day = {row.day: row for row in rows}
        series = []
        for day in period.days():
            row = by_day.get(day)
            gross, refunded = (row.gross_amount, row.refunded_amount) if row else (0, 0)
            series.append(
                SalesDay(
                    date=day,
                    orders=row.orders if row else 0,
                    revenue=self._money(gross - refunded),
                    gross_revenue=self._money(gross),
                    refunded_orders=row.refunded_orders if row else 0,
                    refunds=self._money(refunded),
                )
            )
        return series

    async def top_products(self, period: Period, limit: int) -> list[TopProduct]:
        """The ``limit`` products that sold most units over the period, most first."""
        async with self._uow() as uow:
            rows = await repository.top_products(
                uow.session, period.first, period.last, self._settings.currency, limit
            )
        return [
            TopProduct(
                product_id=row.product_id,
                sku=row.sku,
                name=row.name,
                quantity=row.quantity,
                revenue=self._money(row.revenue_amount),
            )
            for row in rows
        ]

    async def funnel(self, period: Period) -> Funnel:
        """The period's carts and orders at each step."""
        async with self._uow() as uow:
            counts = await repository.funnel(uow.session, period.first, period.last)
            carts = await repository.carts(uow.session, period.first, period.last)
        return Funnel(carts=carts, **counts)

    async def new_users(self, period: Period) -> list[NewUsersDay]:
        """Every day of the period with the accounts registered on it."""
        async with self._uow() as uow:
            rows = await repository.users(uow.session, period.first, period.last)
        by_day = {row.day: row.users for row in rows}
        return [NewUsersDay(date=day, users=by_day.get(day, 0)) for day in period.days()]
