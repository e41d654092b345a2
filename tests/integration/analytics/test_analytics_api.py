"""analytics reports what the events said, per UTC day, to administrators only."""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.conftest import Harness, RunningService
from tests.integration.accounts import admin, customer, publish_events, wait_for
from tests.integration.analytics.events import (
    cart_item_added,
    line,
    order_event,
    registered,
)

ANALYTICS = "/api/v1/analytics"
REPORTS = ("/sales", "/top-products", "/funnel", "/users")
MUG, TEA = uuid.uuid4(), uuid.uuid4()


def eur(amount: int) -> dict[str, Any]:
    return {"amount": amount, "currency": "EUR"}


async def counted(analytics: RunningService, harness: Harness, envelopes: list[dict]) -> None:
    """Publishes the events and waits until analytics' inbox holds every one of them."""
    await publish_events(harness, envelopes)
    ids = list({e["id"] for e in envelopes})
    held = "SELECT count(*) FROM inbox WHERE event_id = ANY(CAST(:ids AS uuid[]))"
    assert await wait_for(analytics, held, len(ids), ids=ids) == len(ids)


async def duplicates_seen(analytics: RunningService, expected: int) -> float:
    """Polls analytics' metrics until the inbox has turned away ``expected`` redeliveries."""
    seen = 0.0
    for _ in range(200):
        exposition = (await analytics.client.get("/metrics")).text
        seen = sum(
            float(sample.rsplit(" ", 1)[1])
            for sample in exposition.splitlines()
            if sample.startswith("mercato_events_consumed_total{")
            and 'outcome="duplicate"' in sample
        )
        if seen >= expected:
            break
        await asyncio.sleep(0.05)
    return seen


def three_days_of_shopping() -> list[dict]:
    """Carts, orders and registrations from 2026-11-20 to 2026-11-22 (UTC)."""
    ada, bob = uuid.uuid4(), uuid.uuid4()
    first, failed, second = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    first_lines = [line(MUG, "Mug", 2, 1250), line(TEA, "Tea", 1, 500)]
    return [
        registered("2026-11-20T09:00:00+00:00"),
        # 00:30 in UTC+2 is still the 20th in UTC.
        registered("2026-11-21T00:30:00+02:00"),
        cart_item_added(ada, MUG, "2026-11-20T10:00:00+00:00"),
        cart_item_added(ada, TEA, "2026-11-20T10:01:00+00:00"),
        cart_item_added(bob, MUG, "2026-11-20T11:00:00+00:00"),
        order_event("order.created", first, ada, first_lines, "2026-11-20T10:05:00+00:00"),
        order_event("order.confirmed", first, ada, first_lines, "2026-11-20T10:05:01+00:00"),
        order_event(
            "order.created", failed, bob, [line(MUG, "Mug", 1, 1250)], "2026-11-20T11:05:00+00:00"
        ),
        order_event(
            "order.failed", failed, bob, [line(MUG, "Mug", 1, 1250)], "2026-11-20T11:05:01+00:00"
        ),
        cart_item_added(ada, MUG, "2026-11-21T08:00:00+00:00"),
        order_event(
            "order.created", second, ada, [line(MUG, "Mug", 1, 1250)], "2026-11-21T08:05:00+00:00"
        ),
        order_event(
            "order.confirmed", second, ada, [line(MUG, "Mug", 1, 1250)], "2026-11-21T08:05:01+00:00"
        ),
        order_event("order.cancelled", first, ada, first_lines, "2026-11-22T12:00:00+00:00"),
    ]


@pytest.fixture
async def shop(harness: Harness) -> tuple[RunningService, dict[str, str]]:
    auth = await harness.start("auth")
    analytics = await harness.start("analytics")
    return analytics, await admin(auth)


async def test_sales_count_confirmed_orders_per_utc_day_and_take_back_cancellations(harness, shop):
    analytics, root = shop
    await counted(analytics, harness, three_days_of_shopping())

    answer = await analytics.client.get(
        f"{ANALYTICS}/sales",
        params={"from": "2026-11-19", "to": "2026-11-23", "granularity": "day"},
        headers=root,
    )

    assert answer.status_code == 200, answer.text
    assert [(d["date"], d["orders"], d["revenue"]) for d in answer.json()] == [
        ("2026-11-19", 0, eur(0)),
        ("2026-11-20", 1, eur(3000)),
        ("2026-11-21", 1, eur(1250)),
        ("2026-11-22", 0, eur(-3000)),
        ("2026-11-23", 0, eur(0)),
    ]
    cancelled_day = answer.json()[3]
    assert cancelled_day["refunded_orders"] == 1
    assert cancelled_day["refunds"] == eur(3000)
    assert cancelled_day["gross_revenue"] == eur(0)


async def test_top_products_rank_units_sold_net_of_cancellations(harness, shop):
    analytics, root = shop
    await counted(analytics, harness, three_days_of_shopping())

    async def top(**params: Any) -> list[tuple[str, int, dict]]:
        answer = await analytics.client.get(
            f"{ANALYTICS}/top-products", params=params, headers=root
        )
        assert answer.status_code == 200, answer.text
        return [(p["name"], p["quantity"], p["revenue"]) for p in answer.json()]

    assert await top(**{"from": "2026-11-20", "to": "2026-11-21"}) == [
        ("Mug", 3, eur(3750)),
        ("Tea", 1, eur(500)),
    ]
    assert await top(**{"from": "2026-11-20", "to": "2026-11-21", "limit": 1}) == [
        ("Mug", 3, eur(3750))
    ]
    # The cancellation on the 22nd takes back two mugs and the tea.
    assert await top(**{"from": "2026-11-20", "to": "2026-11-22"}) == [("Mug", 1, eur(1250))]
    assert await top(**{"from": "2026-11-23", "to": "2026-11-23"}) == []


async def test_the_funnel_counts_distinct_carts_and_orders_at_each_step(harness, shop):
    analytics, root = shop
    await counted(analytics, harness, three_days_of_shopping())

    async def funnel(first: str, last: str) -> dict:
        answer = await analytics.client.get(
            f"{ANALYTICS}/funnel", params={"from": first, "to": last}, headers=root
        )
        assert answer.status_code == 200, answer.text
        return answer.json()

    assert await funnel("2026-11-20", "2026-11-22") == {
        "carts": 2,
        "orders_created": 3,
        "orders_confirmed": 2,
        "orders_failed": 1,
        "orders_cancelled": 1,
        "orders_refunded": 0,
    }
    assert await funnel("2026-11-21", "2026-11-21") == {
        "carts": 1,
        "orders_created": 1,
        "orders_confirmed": 1,
        "orders_failed": 0,
        "orders_cancelled": 0,
        "orders_refunded": 0,
    }
    assert (await funnel("2026-10-01", "2026-10-31"))["carts"] == 0


async def test_new_users_per_utc_day_with_zeros(harness, shop):
    analytics, root = shop
    await counted(analytics, harness, three_days_of_shopping())

    answer = await analytics.client.get(
        f"{ANALYTICS}/users", params={"from": "2026-11-19", "to": "2026-11-21"}, headers=root
    )

    assert answer.status_code == 200, answer.text
    assert answer.json() == [
        {"date": "2026-11-19", "users": 0},
        {"date": "2026-11-20", "users": 2},
        {"date": "2026-11-21", "users": 0},
    ]


async def test_an_event_delivered_twice_counts_once(harness, shop):
    analytics, root = shop
    order_id, user_id = uuid.uuid4(), uuid.uuid4()
    confirmed = order_event(
        "order.confirmed",
        order_id,
        user_id,
        [line(MUG, "Mug", 2, 1250)],
        "2026-11-20T10:00:00+00:00",
    )
    cart = cart_item_added(user_id, MUG, "2026-11-20T09:00:00+00:00")
    joined = registered("2026-11-20T08:00:00+00:00")

    # Each copy is its own NATS message: only the inbox stands between it and a second count.
    await counted(analytics, harness, [confirmed, cart, joined, confirmed, cart, joined])
    assert await duplicates_seen(analytics, 3) == 3

    day = {"from": "2026-11-20", "to": "2026-11-20"}
    sales = (await analytics.client.get(f"{ANALYTICS}/sales", params=day, headers=root)).json()
    assert [(d["orders"], d["revenue"]) for d in sales] == [(1, eur(2500))]
    top = await analytics.client.get(f"{ANALYTICS}/top-products", params=day, headers=root)
    assert [p["quantity"] for p in top.json()] == [2]
    funnel = (await analytics.client.get(f"{ANALYTICS}/funnel", params=day, headers=root)).json()
    assert (funnel["carts"], funnel["orders_confirmed"]) == (1, 1)
    users = (await analytics.client.get(f"{ANALYTICS}/users", params=day, headers=root)).json()
    assert users == [{"date": "2026-11-20", "users": 1}]


async def test_events_published_while_analytics_is_down_are_counted_when_it_returns(harness, shop):
    analytics, root = shop
    settings = analytics.settings
    await harness.stop("analytics")
    order_id = uuid.uuid4()
    lines = [line(TEA, "Tea", 3, 500)]
    missed = [
        order_event("order.created", order_id, uuid.uuid4(), lines, "2026-11-25T10:00:00+00:00"),
        order_event("order.confirmed", order_id, uuid.uuid4(), lines, "2026-11-25T10:00:01+00:00"),
    ]
    await publish_events(harness, missed)

    analytics = await harness.serve("analytics", settings)
    held = "SELECT count(*) FROM inbox WHERE event_id = ANY(CAST(:ids AS uuid[]))"
    assert await wait_for(analytics, held, 2, ids=[e["id"] for e in missed]) == 2

    sales = await analytics.client.get(
        f"{ANALYTICS}/sales", params={"from": "2026-11-25", "to": "2026-11-25"}, headers=root
    )
    assert [(d["orders"], d["revenue"]) for d in sales.json()] == [(1, eur(1500))]


async def test_csv_answers_carry_a_header_row(harness, shop):
    analytics, root = shop
    await counted(analytics, harness, three_days_of_shopping())
    period = {"from": "2026-11-20", "to": "2026-11-21", "format": "csv"}

    sales = await analytics.client.get(f"{ANALYTICS}/sales", params=period, headers=root)
    assert sales.status_code == 200, sales.text
    assert sales.headers["content-type"].startswith("text/csv")
    assert list(csv.reader(io.StringIO(sales.text))) == [
        [
            "date",
            "orders",
            "revenue_amount",
            "revenue_currency",
            "gross_revenue_amount",
            "gross_revenue_currency",
            "refunded_orders",
            "refunds_amount",
            "refunds_currency",
        ],
        ["2026-11-20", "1", "3000", "EUR", "3000", "EUR", "0", "0", "EUR"],
        ["2026-11-21", "1", "1250", "EUR", "1250", "EUR", "0", "0", "EUR"],
    ]

    for report, header in (
        (
            "/top-products",
            ["product_id", "sku", "name", "quantity", "revenue_amount", "revenue_currency"],
        ),
        (
            "/funnel",
            [
                "carts",
                "orders_created",
                "orders_confirmed",
                "orders_failed",
                "orders_cancelled",
                "orders_refunded",
            ],
        ),
        ("/users", ["date", "users"]),
    ):
        answer = await analytics.client.get(f"{ANALYTICS}{report}", params=period, headers=root)
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO(answer.text)))
        assert rows[0] == header
    funnel = await analytics.client.get(f"{ANALYTICS}/funnel", params=period, headers=root)
    assert list(csv.reader(io.StringIO(funnel.text)))[1] == ["2", "3", "2", "1", "0", "0"]


async def test_reports_are_for_administrators_only(harness):
    auth = await harness.start("auth")
    analytics = await harness.start("analytics")
    shopper = await customer(auth)
    for report in REPORTS:
        anonymous = await analytics.client.get(f"{ANALYTICS}{report}")
        assert anonymous.status_code == 401, report
        assert anonymous.headers["content-type"] == "application/problem+json"
        # Who asks is checked before what is asked.
        bad_period = {"from": "2026-11-22", "to": "2026-11-21"}
        assert (
            await analytics.client.get(f"{ANALYTICS}{report}", params=bad_period)
        ).status_code == 401
        assert (
            await analytics.client.get(f"{ANALYTICS}{report}", params=bad_period, headers=shopper)
        ).status_code == 403
        refused = await analytics.client.get(f"{ANALYTICS}{report}", headers=shopper)
        assert refused.status_code == 403, report
        assert refused.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    ("report", "params"),
    [
        ("/sales", {"from": "2026-11-22", "to": "2026-11-21"}),
        ("/sales", {"from": "2025-01-01", "to": "2026-01-02"}),
        ("/sales", {"from": "2026-13-01", "to": "2026-12-02"}),
        ("/sales", {"from": "yesterday"}),
        ("/sales", {"granularity": "week"}),
        ("/users", {"format": "xml"}),
        ("/top-products", {"limit": "0"}),
        ("/top-products", {"limit": "101"}),
        ("/funnel", {"to": "2026-02-30"}),
    ],
)
async def test_bad_periods_and_options_are_refused_with_422(harness, shop, report, params):
    analytics, root = shop
    answer = await analytics.client.get(f"{ANALYTICS}{report}", params=params, headers=root)
    assert answer.status_code == 422, answer.text
    problem = answer.json()
    assert answer.headers["content-type"] == "application/problem+json"
    assert problem["status"] == 422
    assert problem["errors"]


async def test_a_report_without_dates_covers_the_thirty_days_up_to_today(harness, shop):
    analytics, root = shop
    answer = await analytics.client.get(f"{ANALYTICS}/users", headers=root)
    assert answer.status_code == 200, answer.text
    today = datetime.now(UTC).date()
    assert [d["date"] for d in answer.json()] == [
        (today - timedelta(days=n)).isoformat() for n in range(29, -1, -1)
    ]


async def test_a_report_may_cover_a_whole_leap_year(harness, shop):
    analytics, root = shop
    answer = await analytics.client.get(
        f"{ANALYTICS}/sales", params={"from": "2028-01-01", "to": "2028-12-31"}, headers=root
    )
    assert answer.status_code == 200, answer.text
    assert len(answer.json()) == 366
