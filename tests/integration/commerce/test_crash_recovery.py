"""Crashes mid-checkout (SIGKILL of the order or the payment process) lose no order.

The killed service runs as its own process with a fault point armed
(``MERCATO_FAULTS``); it dies there, is started again on the same database, and the
recovery loops carry the order to a terminal state with stock and charges consistent.
"""

from __future__ import annotations

import signal

import httpx
import pytest

from tests.conftest import Harness
from tests.integration.commerce.shop import API, open_shop


async def test_an_order_killed_between_reservation_and_charge_is_completed_after_restart(
    harness: Harness,
):
    shop = await open_shop(harness, processes={"order": "order.after_reserve"})
    lamp = await shop.new_product("LAMP-1", 4999, stock=5)
    ada = await shop.shopper("ada@example.com")
    await shop.put_in_cart(ada, lamp, 2)
    crashed = shop.order

    with pytest.raises(httpx.HTTPError):
        await shop.check_out(ada, key="crash-key")
    assert await crashed.wait_exit() == -signal.SIGKILL
    assert await shop.available("LAMP-1") == 3  # reserved, not yet paid

    shop.order = await harness.spawn("order", crashed.settings)
    (order,) = (await shop.order.client.get(f"{API}/orders", headers=ada.headers)).json()["items"]
    order = await shop.wait_order(ada, order["id"])

    assert order["status"] == "confirmed"
    assert await shop.available("LAMP-1") == 3
    charges = await shop.charges_of(order["id"])
    assert [(c["status"], c["amount"]["amount"]) for c in charges] == [("succeeded", 9998)]
    # The key's first (lost) answer is now the confirmed order.
    replay = await shop.check_out(ada, key="crash-key")
    assert (replay.status_code, replay.json()["status"]) == (201, "confirmed")
    assert replay.json()["id"] == order["id"]


@pytest.mark.parametrize("point", ["payment.before_processor", "payment.after_processor"])
async def test_a_payment_killed_mid_charge_leaves_the_order_pending_until_it_is_back(
    harness: Harness, point: str
):
    shop = await open_shop(harness, processes={"payment": point})
    desk = await shop.new_product("DESK-1", 12000, stock=2)
    bo = await shop.shopper("bo@example.com")
    await shop.put_in_cart(bo, desk, 1)
    crashed = shop.payment

    placed = await shop.check_out(bo)

    assert placed.status_code == 202, placed.text
    assert placed.json()["status"] == "pending"
    assert await crashed.wait_exit() == -signal.SIGKILL
    shop.payment = await harness.spawn("payment", crashed.settings)
    order = await shop.wait_order(bo, placed.json()["id"])

    assert order["status"] == "confirmed"
    assert await shop.available("DESK-1") == 1
    charges = await shop.charges_of(order["id"])
    assert [c["status"] for c in charges] == ["succeeded"]
    sandbox = await shop.payment.client.get(
        f"{API}/payments/charges/{charges[0]['id']}", headers=shop.root
    )
    assert sandbox.json()["refunded"]["amount"] == 0


async def test_an_order_killed_after_the_charge_confirms_without_a_second_charge(
    harness: Harness,
):
    shop = await open_shop(harness, processes={"order": "order.after_charge"})
    rug = await shop.new_product("RUG-1", 7000, stock=1)
    cy = await shop.shopper("cy@example.com")
    await shop.put_in_cart(cy, rug, 1)
    crashed = shop.order

    with pytest.raises(httpx.HTTPError):
        await shop.check_out(cy)
    assert await crashed.wait_exit() == -signal.SIGKILL

    shop.order = await harness.spawn("order", crashed.settings)
    (order,) = (await shop.order.client.get(f"{API}/orders", headers=cy.headers)).json()["items"]
    order = await shop.wait_order(cy, order["id"])

    assert order["status"] == "confirmed"
    assert await shop.available("RUG-1") == 0
    assert [c["status"] for c in await shop.charges_of(order["id"])] == ["succeeded"]
