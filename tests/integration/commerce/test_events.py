"""order.* and payment.* events: one per state change, even when the outbox is relayed again.

Events go out through each service's outbox; the relay publishes each with
``Nats-Msg-Id`` = event id. A relay that crashed after publishing but before marking the
rows publishes them again: the broker must drop the repeats, so the stream still holds
exactly one message per state change.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import nats
import orjson
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from mercato.platform.events import stream_name
from tests.conftest import Harness
from tests.integration.accounts import publish_events, wait_for
from tests.integration.commerce.shop import API, DECLINED, open_shop


async def stream_events(harness: Harness) -> list[dict[str, Any]]:
    """Every event in this test's stream, oldest first."""
    nc = await nats.connect(harness.engines.nats_url)
    try:
        js = nc.jetstream()
        subscription = await js.pull_subscribe(
            f"{harness.prefix}.events.>", stream=stream_name(harness.prefix)
        )
        events = []
        while True:
            try:
                batch = await subscription.fetch(200, timeout=1.0)
            except TimeoutError:  # nats' own TimeoutError is one too
                break
            for message in batch:
                events.append(orjson.loads(message.data))
                await message.ack()
        return events
    finally:
        await nc.close()


async def settled_events(harness: Harness, expected: int) -> list[dict[str, Any]]:
    """The stream's events once at least ``expected`` arrived and a moment passed."""
    events: list[dict[str, Any]] = []
    for _ in range(100):
        events = [
            e
            for e in await stream_events(harness)
            if e["type"].split(".")[0] in ("order", "payment")
        ]
        if len(events) >= expected:
            break
        await asyncio.sleep(0.2)
    await asyncio.sleep(1.0)
    return [
        e for e in await stream_events(harness) if e["type"].split(".")[0] in ("order", "payment")
    ]


async def duplicates_absorbed(service: Any, event_type: str) -> float:
    """How many deliveries of ``event_type`` the service's inbox recognised as repeats."""
    exposition = (await service.client.get("/metrics")).text
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            labels = sample.labels
            if (
                sample.name == "mercato_events_consumed_total"
                and labels.get("type") == event_type
                and labels.get("outcome") == "duplicate"
            ):
                return sample.value
    return 0.0


async def test_each_state_change_is_published_once_even_when_relayed_again(harness: Harness):
    shop = await open_shop(harness)
    lamp = await shop.new_product("LAMP-1", 5000, stock=1)
    ada = await shop.shopper("ada@example.com")
    bob = await shop.shopper("bob@example.com", card=DECLINED)
    cy = await shop.shopper("cy@example.com")
    for who in (ada, bob):
        await shop.put_in_cart(who, lamp, 1)
    declined = (await shop.check_out(bob)).json()
    confirmed = (await shop.check_out(ada)).json()
    await shop.put_in_cart(cy, lamp, 1)
    short = (await shop.check_out(cy)).json()
    cancelled = await shop.order.client.post(
        f"{API}/orders/{confirmed['id']}/cancel", headers=ada.headers
    )
    assert (declined["status"], confirmed["status"], short["status"]) == (
        "failed",
        "confirmed",
        "failed",
    )
    assert cancelled.json()["status"] == "cancelled"
    charge_ok, charge_declined = confirmed["charge_id"], declined["charge_id"]
    expected = Counter(
        {
            ("order.created", declined["id"]): 1,
            ("order.failed", declined["id"]): 1,
            ("order.created", confirmed["id"]): 1,
            ("order.confirmed", confirmed["id"]): 1,
            ("order.cancelled", confirmed["id"]): 1,
            ("order.created", short["id"]): 1,
            ("order.failed", short["id"]): 1,
            ("payment.declined", charge_declined): 1,
            ("payment.succeeded", charge_ok): 1,
            ("payment.refunded", charge_ok): 1,
            # Each cart got the lamp once (analytics' funnel counts these carts).
            ("order.cart_item_added", ada.id): 1,
            ("order.cart_item_added", bob.id): 1,
            ("order.cart_item_added", cy.id): 1,
        }
    )

    first = await settled_events(harness, sum(expected.values()))
    assert Counter((e["type"], e["subject"]) for e in first) == expected

    # The relays run again over everything, as after a crash before marking rows sent.
    for running in (shop.order, shop.payment):
        database = running.app.state.platform.database
        async with database.sessionmaker() as session, session.begin():
            await session.execute(text("UPDATE outbox SET published_at = NULL"))
        running.app.state.platform.events.relay.wake()
        await wait_for(running, "SELECT count(*) FROM outbox WHERE published_at IS NULL", 0)
    again = await settled_events(harness, sum(expected.values()))
    assert Counter((e["type"], e["subject"]) for e in again) == expected

    confirmed_event = next(e for e in first if e["type"] == "order.confirmed")
    assert confirmed_event["data"]["total"] == {"amount": 5000, "currency": "EUR"}
    assert confirmed_event["data"]["items"][0]["sku"] == "LAMP-1"
    assert confirmed_event["source"] == "order"


async def test_a_full_refund_by_an_administrator_marks_the_order_refunded_once(harness: Harness):
    shop = await open_shop(harness)
    lamp = await shop.new_product("LAMP-2", 5000, stock=2)
    ada = await shop.shopper("ada@example.com")
    await shop.put_in_cart(ada, lamp, 2)
    order = (await shop.check_out(ada)).json()
    assert order["status"] == "confirmed"

    partial = await shop.payment.client.post(
        f"{API}/payments/charges/{order['charge_id']}/refunds",
        json={"amount": {"amount": 1000, "currency": "EUR"}},
        headers=shop.root,
    )
    assert partial.status_code == 201, partial.text
    rest = await shop.payment.client.post(
        f"{API}/payments/charges/{order['charge_id']}/refunds", json={}, headers=shop.root
    )
    assert rest.status_code == 201, rest.text

    refunded = await shop.wait_order(ada, order["id"], lambda o: o["status"] == "refunded")
    assert refunded["status"] == "refunded"
    events = await settled_events(harness, 5)
    kinds = Counter((e["type"], e["subject"]) for e in events)
    assert kinds[("payment.refunded", order["charge_id"])] == 2
    assert kinds[("order.refunded", order["id"])] == 1

    # Both payment.refunded events delivered again, as after a consumer crash: the inbox
    # absorbs them and the order publishes nothing more.
    refunds = [e for e in events if e["type"] == "payment.refunded"]
    await publish_events(harness, refunds)
    for _ in range(100):
        if await duplicates_absorbed(shop.order, "payment.refunded") == 2:
            break
        await asyncio.sleep(0.1)
    assert await duplicates_absorbed(shop.order, "payment.refunded") == 2
    again = Counter((e["type"], e["subject"]) for e in await stream_events(harness))
    assert again[("order.refunded", order["id"])] == 1
    assert (await shop.order_of(ada, order["id"]))["status"] == "refunded"
