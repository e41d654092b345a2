"""Who may do what across the commerce services: 401, 403 and 404 where API.md says."""

from __future__ import annotations

import uuid

import pytest

from tests.conftest import Harness
from tests.integration.commerce.shop import API, eur, open_shop


@pytest.fixture
async def shop(harness: Harness):
    return await open_shop(harness)


async def test_another_users_order_and_charge_are_not_found(shop):
    mug = await shop.new_product("MUG-1", 1200, stock=5)
    ada = await shop.shopper("ada@example.com")
    eve = await shop.shopper("eve@example.com")
    await shop.put_in_cart(ada, mug, 1)
    order = (await shop.check_out(ada)).json()

    for path in (f"{API}/orders/{order['id']}", f"{API}/orders/{uuid.uuid4()}"):
        assert (await shop.order.client.get(path, headers=eve.headers)).status_code == 404
    cancel = await shop.order.client.post(f"{API}/orders/{order['id']}/cancel", headers=eve.headers)
    assert cancel.status_code == 404
    listed = await shop.order.client.get(f"{API}/orders", headers=eve.headers)
    assert listed.json()["items"] == []
    charge = await shop.payment.client.get(
        f"{API}/payments/charges/{order['charge_id']}", headers=eve.headers
    )
    assert charge.status_code == 404
    assert (await shop.payment.client.get(f"{API}/payments/charges", headers=eve.headers)).json()[
        "items"
    ] == []

    mine = await shop.order.client.get(f"{API}/orders/{order['id']}", headers=ada.headers)
    assert mine.status_code == 200
    as_admin = await shop.order.client.get(f"{API}/orders/{order['id']}", headers=shop.root)
    assert as_admin.status_code == 200
    everyone = await shop.order.client.get(f"{API}/orders", headers=shop.root)
    assert [o["id"] for o in everyone.json()["items"]] == [order["id"]]
    their_charge = await shop.payment.client.get(
        f"{API}/payments/charges/{order['charge_id']}", headers=ada.headers
    )
    assert their_charge.status_code == 200


async def test_a_customer_calling_admin_or_service_routes_gets_403(shop):
    await shop.new_product("PEN-1", 100, stock=5)
    ada = await shop.shopper("ada@example.com")
    h = ada.headers
    forbidden = [
        await shop.product.client.post(
            f"{API}/products", json={"sku": "X", "name": "X", "price": eur(1)}, headers=h
        ),
        await shop.inventory.client.put(f"{API}/inventory/PEN-1", json={"on_hand": 99}, headers=h),
        await shop.inventory.client.post(
            f"{API}/inventory/PEN-1/adjust", json={"delta": 5, "reason": "me"}, headers=h
        ),
        await shop.inventory.client.post(
            f"{API}/inventory/reservations",
            json={
                "order_id": str(uuid.uuid4()),
                "items": [{"sku": "PEN-1", "quantity": 1}],
                "ttl_seconds": 60,
            },
            headers=h,
        ),
        await shop.payment.client.post(
            f"{API}/payments/charges",
            json={
                "order_id": str(uuid.uuid4()),
                "amount": eur(100),
                "payment_method_id": ada.card,
                "customer_id": ada.id,
            },
            headers={**h, "Idempotency-Key": "k"},
        ),
        await shop.payment.client.post(
            f"{API}/payments/charges/{uuid.uuid4()}/refunds", json={}, headers=h
        ),
    ]
    assert [r.status_code for r in forbidden] == [403] * len(forbidden), [r.text for r in forbidden]
    for answer in forbidden:
        assert answer.headers["content-type"] == "application/problem+json"
    assert await shop.available("PEN-1") == 5


async def test_anonymous_callers_get_401_on_carts_orders_and_payments(shop):
    for method, path in (
        ("GET", f"{API}/cart"),
        ("GET", f"{API}/orders"),
        ("POST", f"{API}/orders"),
    ):
        assert (await shop.order.client.request(method, path)).status_code == 401
    assert (await shop.payment.client.get(f"{API}/payments/charges")).status_code == 401
    assert (await shop.payment.client.post(f"{API}/payments/methods", json={})).status_code == 401
