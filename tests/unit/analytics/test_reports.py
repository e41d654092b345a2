"""The periods reports cover, the UTC day of an event, and the CSV form of a report."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta, timezone

import pytest

from mercato.platform.errors import ValidationFailed
from mercato.services.analytics.schemas import Funnel, Money, SalesDay, TopProduct, csv_of
from mercato.services.analytics.service import Period, day_of

TODAY = date(2026, 12, 2)


def period(first: date | None, last: date | None, *, max_days: int = 366) -> Period:
    return Period.of(first, last, today=TODAY, default_days=30, max_days=max_days)


def test_a_period_without_dates_is_the_thirty_days_up_to_today():
    assert period(None, None) == Period(date(2026, 11, 3), TODAY)
    assert len(period(None, None).days()) == 30


def test_a_period_without_a_start_ends_where_asked():
    assert period(None, date(2026, 1, 30)) == Period(date(2026, 1, 1), date(2026, 1, 30))


def test_a_period_lists_every_day_inclusive():
    assert period(date(2026, 2, 27), date(2026, 3, 1)).days() == [
        date(2026, 2, 27),
        date(2026, 2, 28),
        date(2026, 3, 1),
    ]
    assert period(TODAY, TODAY).days() == [TODAY]


def test_a_period_that_ends_before_it_starts_is_refused():
    with pytest.raises(ValidationFailed) as refused:
        period(date(2026, 11, 2), date(2026, 11, 1))
    assert refused.value.extra["errors"][0]["loc"] == ["query", "from"]


def test_a_period_longer_than_the_bound_is_refused():
    start = date(2025, 1, 1)
    assert len(period(start, start + timedelta(days=365)).days()) == 366
    with pytest.raises(ValidationFailed, match="366 days"):
        period(start, start + timedelta(days=366))
    with pytest.raises(ValidationFailed, match="7 days"):
        period(start, start + timedelta(days=7), max_days=7)


def test_an_event_counts_on_its_utc_day():
    east = timezone(timedelta(hours=2))
    assert day_of(datetime(2026, 11, 21, 0, 30, tzinfo=east)) == date(2026, 11, 20)
    assert day_of(datetime(2026, 11, 20, 23, 59, 59, tzinfo=timezone(timedelta(hours=-5)))) == (
        date(2026, 11, 21)
    )


def eur(amount: int) -> Money:
    return Money(amount=amount, currency="EUR")


def test_csv_flattens_money_into_amount_and_currency_columns():
    rows = [
        SalesDay(
            date=date(2026, 11, 20),
            orders=2,
            revenue=eur(-150),
            gross_revenue=eur(1000),
            refunded_orders=1,
            refunds=eur(1150),
        )
    ]
    assert csv_of(SalesDay, rows).splitlines() == [
        "date,orders,revenue_amount,revenue_currency,gross_revenue_amount,"
        "gross_revenue_currency,refunded_orders,refunds_amount,refunds_currency",
        "2026-11-20,2,-150,EUR,1000,EUR,1,1150,EUR",
    ]


def test_csv_quotes_names_that_need_it_and_keeps_the_header_without_rows():
    product = TopProduct(
        product_id=uuid.UUID(int=1), sku="MUG-1", name='Mug, "large"', quantity=3, revenue=eur(30)
    )
    assert csv_of(TopProduct, [product]).splitlines()[1] == (
        f'{uuid.UUID(int=1)},MUG-1,"Mug, ""large""",3,30,EUR'
    )
    assert csv_of(Funnel, []) == (
        "carts,orders_created,orders_confirmed,orders_failed,orders_cancelled,orders_refunded\r\n"
    )
