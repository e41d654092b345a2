"""Checkout across real product, inventory, payment and order services."""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import Harness
from tests.integration.accounts import scalar
from tests.integration.commerce.shop import API, DECLINED, SLOW, eur, open_shop


@pytest.fixture
async def shop(harness: Harness):
    return await open_shop(harness)


async def test_a_checkout_confirms_takes_the_stock_and_charges_the_card(shop):
    lamp = await shop.new_product("LAMP-1", 4999, stock=5, name="Desk lamp")
    ada = await shop.shopper("ada@example.com")
    assert (await shop.put_in_cart(ada, lamp, 2)).status_code == 200
    cart = (await shop.order.client.get(f"{API}/cart", headers=ada.headers)).json()
    assert cart["total"] == eur(9998)
    assert cart["items"][0]["name"] == "Desk lamp"

    placed = await shop.check_out(ada)

    assert placed.status_code == 201, placed.text
    order = placed.json()
    assert order["status"] == "confirmed"
    assert order["total"] == eur(9998)
    assert order["items"][0]["unit_price"] == eur(4999)
    assert await shop.available("LAMP-1") == 3
    (charge,) = await shop.charges_of(order["id"])
    assert (charge["status"], charge["amount"]) == ("succeeded", eur(9998))
    assert order["charge_id"] == charge["id"]
    assert (await shop.order.client.get(f"{API}/cart", headers=ada.headers)).json()["items"] == []


async def test_a_declined_card_fails_the_order_and_leaves_the_stock(shop):
    mug = await shop.new_product("MUG-1", 1200, stock=4)
    bob = await shop.shopper("bob@example.com", card=DECLINED)
    await shop.put_in_cart(bob, mug, 1)

    placed = await shop.check_out(bob)

    assert placed.status_code == 201, placed.text
    assert placed.json()["status"] == "failed"
    assert placed.json()["failure"] == {
        "reason": "payment_declined",
        "detail": {"decline_code": "card_declined"},
    }
    assert await shop.available("MUG-1") == 4
    (charge,) = await shop.charges_of(placed.json()["id"])
    assert charge["status"] == "declined"


async def test_out_of_stock_fails_with_the_short_skus_and_charges_nothing(shop):
    pen = await shop.new_product("PEN-1", 250, stock=2)
    ink = await shop.new_product("INK-1", 500, stock=10)
    cy = await shop.shopper("cy@example.com")
    await shop.put_in_cart(cy, pen, 3)
    await shop.put_in_cart(cy, ink, 1)

    placed = await shop.check_out(cy)

    assert placed.json()["status"] == "failed"
    assert placed.json()["failure"]["reason"] == "out_of_stock"
    short = placed.json()["failure"]["detail"]["short"]
    assert [(s["sku"], s["requested"], s["available"]) for s in short] == [("PEN-1", 3, 2)]
    assert (await shop.available("PEN-1"), await shop.available("INK-1")) == (2, 10)
    assert await shop.charges_of(placed.json()["id"]) == []


async def test_cancelling_a_confirmed_order_returns_the_stock_and_refunds(shop):
    desk = await shop.new_product("DESK-1", 25000, stock=1)
    di = await shop.shopper("di@example.com")
    await shop.put_in_cart(di, desk, 1)
    order = (await shop.check_out(di)).json()
    assert await shop.available("DESK-1") == 0

    cancelled = await shop.order.client.post(
        f"{API}/orders/{order['id']}/cancel", headers=di.headers
    )

    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    assert await shop.available("DESK-1") == 1
    (charge,) = await shop.charges_of(order["id"])
    assert charge["refunded"] == eur(25000)
    again = await shop.order.client.post(f"{API}/orders/{order['id']}/cancel", headers=di.headers)
    assert again.json()["status"] == "cancelled"
    refunds = await scalar(shop.payment, "SELECT count(*) FROM refunds")
    assert refunds == 1


async def test_the_slow_card_answers_202_pending_and_the_order_confirms_later(harness):
    # The charge call gives up after one second; the slow card takes three.
    shop = await open_shop(harness, order={"charge_timeout_seconds": 1.0})
    kettle = await shop.new_product("KET-1", 3500, stock=3)
    ed = await shop.shopper("ed@example.com", card=SLOW)
    await shop.put_in_cart(ed, kettle, 1)

    placed = await shop.check_out(ed)

    assert placed.status_code == 202, placed.text
    assert placed.json()["status"] == "pending"
    order = await shop.wait_order(ed, placed.json()["id"])
    assert order["status"] == "confirmed"
    assert await shop.available("KET-1") == 2
    assert [c["status"] for c in await shop.charges_of(order["id"])] == ["succeeded"]


async def test_prices_come_from_product_and_quantities_are_checked(shop):
    chair = await shop.new_product("CHAIR-1", 8000, stock=5)
    fay = await shop.shopper("fay@example.com")
    for quantity in (0, -1, 100):
        refused = await shop.put_in_cart(fay, chair, quantity)
        assert refused.status_code == 422, refused.text
    await shop.put_in_cart(fay, chair, 1)
    repriced = await shop.product.client.patch(
        f"{API}/products/{chair}", json={"price": eur(9000)}, headers=shop.root
    )
    assert repriced.status_code == 200, repriced.text
    forged = await shop.order.client.post(
        f"{API}/orders",
        json={
            "shipping_address": {
                "name": "F",
                "line1": "1",
                "city": "X",
                "postal_code": "1",
                "country": "FR",
            },
            "payment_method_id": fay.card,
            "total": eur(1),
        },
        headers={**fay.headers, "Idempotency-Key": "forged"},
    )
    assert forged.status_code == 422  # no price or total is taken from the client
    placed = await shop.check_out(fay)
    assert placed.json()["total"] == eur(9000)
    (charge,) = await shop.charges_of(placed.json()["id"])
    assert charge["amount"] == eur(9000)


async def test_a_deactivated_product_cannot_be_checked_out(shop):
    vase = await shop.new_product("VASE-1", 1500, stock=5)
    gus = await shop.shopper("gus@example.com")
    await shop.put_in_cart(gus, vase, 1)
    gone = await shop.product.client.delete(f"{API}/products/{vase}", headers=shop.root)
    assert gone.status_code == 204
    refused = await shop.check_out(gus)
    assert refused.status_code == 422, refused.text
    assert await shop.available("VASE-1") == 5


async def test_the_idempotency_key_is_required_and_bound_to_its_body(shop):
    rug = await shop.new_product("RUG-1", 6000, stock=5)
    hal = await shop.shopper("hal@example.com")
    await shop.put_in_cart(hal, rug, 1)
    missing = await shop.order.client.post(
        f"{API}/orders",
        json={"shipping_address": {**_address()}, "payment_method_id": hal.card},
        headers=hal.headers,
    )
    assert missing.status_code == 400
    first = await shop.check_out(hal, key="k-1")
    replay = await shop.check_out(hal, key="k-1")
    assert (replay.status_code, replay.json()) == (first.status_code, first.json())
    assert replay.headers["idempotent-replayed"] == "true"
    other_card = await shop.add_card(hal, "5555555555554444")
    different = await shop.check_out(hal, key="k-1", card=other_card)
    assert different.status_code == 422
    assert await shop.available("RUG-1") == 4


def _address() -> dict[str, str]:
    return {"name": "H", "line1": "1 Road", "city": "Oslo", "postal_code": "0150", "country": "NO"}


async def test_a_reservation_expiring_during_a_slow_charge_fails_the_order_and_refunds(harness):
    # Stock is held for one second; the slow card answers after three.
    shop = await open_shop(
        harness,
        order={"charge_timeout_seconds": 1.0, "reservation_ttl_seconds": 1},
        inventory={"sweep_interval_seconds": 0.2},
    )
    tent = await shop.new_product("TENT-1", 15000, stock=2)
    ivy = await shop.shopper("ivy@example.com", card=SLOW)
    await shop.put_in_cart(ivy, tent, 2)

    placed = await shop.check_out(ivy)

    assert placed.json()["status"] == "pending"
    for _ in range(100):  # the sweeper gives the expired reservation's units back
        if await shop.available("TENT-1") == 2:
            break
        await asyncio.sleep(0.1)
    assert await shop.available("TENT-1") == 2
    order = await shop.wait_order(ivy, placed.json()["id"], lambda o: o["status"] != "pending")
    assert order["status"] == "failed"
    assert order["failure"]["reason"] == "reservation_expired"
    charge = await shop.wait_charge_refunded(order["id"])
    assert charge["refunded"] == charge["amount"]
    assert await shop.available("TENT-1") == 2
