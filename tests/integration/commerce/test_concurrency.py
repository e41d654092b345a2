"""Checkouts racing on real PostgreSQL: no overselling, one order per Idempotency-Key."""

from __future__ import annotations

import asyncio
import contextlib

from tests.conftest import Harness
from tests.integration.accounts import scalar
from tests.integration.commerce.shop import open_shop

# Every service shares the test's one event loop here, so a connection is held longer
# than in a process of its own: bigger pools and patience keep this a test of
# correctness under contention, not of the machine's capacity.
BIG_POOLS = {"db_pool_size": 20, "db_max_overflow": 10, "db_pool_timeout_seconds": 60.0}


async def test_fifty_shoppers_racing_for_the_last_ten_units_buy_exactly_ten(harness: Harness):
    shop = await open_shop(
        harness,
        order=BIG_POOLS,
        payment=BIG_POOLS,
        inventory=BIG_POOLS,
        product=BIG_POOLS,
    )
    tent = await shop.new_product("TENT-1", 19900, stock=10)
    shoppers = []
    for batch in range(5):
        shoppers += await asyncio.gather(
            *(shop.shopper(f"camper{batch * 10 + i}@example.com") for i in range(10))
        )
    for who in shoppers:
        assert (await shop.put_in_cart(who, tent, 1)).status_code == 200

    lowest_seen = []

    async def watch_stock() -> None:
        while True:
            lowest_seen.append(await shop.available("TENT-1"))
            await asyncio.sleep(0.05)

    watcher = asyncio.create_task(watch_stock())
    try:
        answers = await asyncio.gather(*(shop.check_out(who) for who in shoppers))
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher

    # 201 with the outcome, or 202 when a service was too busy to answer in time (the
    # machine runs all of them in one process): the recovery loop then finishes the order.
    assert {a.status_code for a in answers} <= {201, 202}, [a.text for a in answers]
    orders = await asyncio.gather(
        *(shop.wait_order(who, a.json()["id"]) for who, a in zip(shoppers, answers, strict=True))
    )
    statuses = [o["status"] for o in orders]
    assert statuses.count("confirmed") == 10
    assert statuses.count("failed") == 40
    assert {o["failure"]["reason"] for o in orders if o["status"] == "failed"} == {"out_of_stock"}
    assert await shop.available("TENT-1") == 0
    assert min(lowest_seen) >= 0
    on_hand = await scalar(shop.inventory, "SELECT min(on_hand) FROM stock")
    assert on_hand == 0
    assert (
        await scalar(shop.payment, "SELECT count(*) FROM charges WHERE status = 'succeeded'") == 10
    )
    assert await scalar(shop.payment, "SELECT count(*) FROM charges") == 10


async def test_twenty_identical_checkouts_make_one_order_and_one_charge(harness: Harness):
    shop = await open_shop(harness)
    bike = await shop.new_product("BIKE-1", 59900, stock=5)
    ada = await shop.shopper("ada@example.com")
    await shop.put_in_cart(ada, bike, 1)

    answers = await asyncio.gather(*(shop.check_out(ada, key="one-key") for _ in range(20)))

    codes = [a.status_code for a in answers]
    assert set(codes) <= {201, 409}, codes
    replayed_or_first = [a.json() for a in answers if a.status_code == 201]
    assert replayed_or_first
    assert {o["id"] for o in replayed_or_first} == {replayed_or_first[0]["id"]}
    assert {o["status"] for o in replayed_or_first} == {"confirmed"}
    fresh = [a for a in answers if a.status_code == 201 and "idempotent-replayed" not in a.headers]
    assert len(fresh) == 1
    for conflict in (a for a in answers if a.status_code == 409):
        assert conflict.json()["type"].endswith("/checkout-in-progress")
    assert await scalar(shop.order, "SELECT count(*) FROM orders") == 1
    assert await scalar(shop.payment, "SELECT count(*) FROM charges") == 1
    assert await scalar(shop.payment, "SELECT count(*) FROM sandbox_charges") == 1
    assert await shop.available("BIKE-1") == 4
