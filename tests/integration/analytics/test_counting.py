"""The counting use cases on a real analytics database: order-insensitive, one currency."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import date

import orjson
import pytest

from mercato.contracts.events import EVENTS
from mercato.platform import migrations
from mercato.platform.db import Database
from mercato.platform.envelope import open_envelope
from mercato.services.analytics.service import Period, Reports, count_order
from mercato.services.analytics.settings import Settings
from tests.integration.analytics.events import line, order_event

DAY_ONE, DAY_TWO = date(2026, 11, 20), date(2026, 11, 21)
BOTH = Period(DAY_ONE, DAY_TWO)


@pytest.fixture
async def database(databases) -> AsyncIterator[Database]:
    url = await databases.empty()
    await asyncio.to_thread(migrations.upgrade, "mercato.services.analytics:migrations", url)
    database = Database(url, source="analytics")
    try:
        yield database
    finally:
        await database.close()
        await databases.drop_created()


async def count(database: Database, envelope: dict) -> None:
    """Runs the order handler on one event, as the inbox consumer does."""
    event = open_envelope(orjson.dumps(envelope), EVENTS)
    async with database.unit_of_work() as uow:
        await count_order(event, uow)
        await uow.commit()


def reports(database: Database) -> Reports:
    return Reports(settings=Settings(), unit_of_work=database.unit_of_work)


async def test_a_cancellation_counted_before_its_confirmation_still_nets_to_nothing(database):
    order_id, user_id = uuid.uuid4(), uuid.uuid4()
    lines = [line(uuid.uuid4(), "Mug", 2, 1250)]
    confirmed = order_event("order.confirmed", order_id, user_id, lines, "2026-11-20T10:00:00Z")
    cancelled = order_event("order.cancelled", order_id, user_id, lines, "2026-11-21T10:00:00Z")

    # A retried confirmation may be handled after the cancellation that followed it.
    await count(database, cancelled)
    await count(database, confirmed)

    sales = await reports(database).sales(BOTH)
    assert [(d.date, d.orders, d.revenue.amount, d.refunds.amount) for d in sales] == [
        (DAY_ONE, 1, 2500, 0),
        (DAY_TWO, 0, -2500, 2500),
    ]
    assert await reports(database).top_products(BOTH, 10) == []
    funnel = await reports(database).funnel(BOTH)
    assert (funnel.orders_confirmed, funnel.orders_cancelled) == (1, 1)


async def test_sales_in_another_currency_stay_out_of_the_shops_reports(database):
    dollars = order_event(
        "order.confirmed", uuid.uuid4(), uuid.uuid4(), [line(uuid.uuid4(), "Mug", 1, 900)],
        "2026-11-20T10:00:00Z",
    )  # fmt: skip
    dollars["data"]["total"]["currency"] = "USD"
    dollars["data"]["items"][0]["unit_price"]["currency"] = "USD"
    await count(database, dollars)

    sales = await reports(database).sales(Period(DAY_ONE, DAY_ONE))
    assert [(d.orders, d.revenue.amount, d.revenue.currency) for d in sales] == [(0, 0, "EUR")]
    assert await reports(database).top_products(BOTH, 10) == []
    # The funnel counts orders whatever their currency.
    assert (await reports(database).funnel(BOTH)).orders_confirmed == 1
