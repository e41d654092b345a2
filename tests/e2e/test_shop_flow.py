"""The whole shop through the gateway, on the runner: browse, search, cart, card, checkout,
stock, the order and its charge; a declined card; a cancellation with stock back and a
refund. It runs on the shared platform (tests/e2e/conftest.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from mercato import catalog
from tests.e2e.support import RunningPlatform, eventually

pytestmark = pytest.mark.e2e

API = "/api/v1"
PASSWORD = "correct-horse-battery"
ADDRESS = {
    "name": "Ada Lovelace",
    "line1": "12 St James's Square",
    "city": "London",
    "postal_code": "SW1Y 4JH",
    "country": "GB",
}


@pytest.fixture(scope="module")
def gateway(shop: RunningPlatform) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=shop.url("gateway"), timeout=60) as client:
        yield client


def sign_up(gateway: httpx.Client, name: str) -> dict[str, str]:
    email = f"{name}-{uuid.uuid4().hex[:6]}@example.com"
    created = gateway.post(
        f"{API}/auth/register", json={"email": email, "password": PASSWORD, "name": name}
    )
    assert created.status_code == 201, created.text
    tokens = gateway.post(f"{API}/auth/login", json={"email": email, "password": PASSWORD})
    assert tokens.status_code == 200, tokens.text
    return {"Authorization": f"Bearer {tokens.json()['access_token']}"}


def add_card(gateway: httpx.Client, who: dict[str, str], number: str) -> str:
    added = gateway.post(
        f"{API}/payments/methods",
        json={"card_number": number, "exp_month": 12, "exp_year": 2035, "cvc": "123"},
        headers=who,
    )
    assert added.status_code == 201, added.text
    return str(added.json()["id"])


def available(gateway: httpx.Client, sku: str) -> int:
    return int(gateway.get(f"{API}/inventory/{sku}").json()["available"])


def check_out(gateway: httpx.Client, who: dict[str, str], card: str) -> dict[str, Any]:
    placed = gateway.post(
        f"{API}/orders",
        json={"shipping_address": ADDRESS, "payment_method_id": card},
        headers={**who, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert placed.status_code == 201, placed.text
    return dict(placed.json())


def test_browse_search_buy_decline_and_cancel_through_the_gateway(gateway: httpx.Client):
    # Browse and search the catalog.
    kitchen = gateway.get(f"{API}/products", params={"category": "kitchen", "limit": 100})
    assert kitchen.status_code == 200, kitchen.text
    assert kitchen.json()["items"]
    found = gateway.get(f"{API}/products", params={"q": "kettle"}).json()["items"]
    kettle = next(p for p in found if p["sku"] == "KIT-KETTLE")
    product = gateway.get(f"{API}/products/{kettle['id']}").json()
    assert product["price"] == {"amount": 3900, "currency": "EUR"}
    stock_before = available(gateway, "KIT-KETTLE")
    assert stock_before >= 2

    # Add to cart, add a card, check out.
    ada = sign_up(gateway, "ada")
    cart = gateway.put(f"{API}/cart/items/{kettle['id']}", json={"quantity": 2}, headers=ada)
    assert cart.status_code == 200, cart.text
    assert cart.json()["total"] == {"amount": 7800, "currency": "EUR"}
    card = add_card(gateway, ada, "4242424242424242")
    order = check_out(gateway, ada, card)
    assert order["status"] == "confirmed"
    assert order["total"] == {"amount": 7800, "currency": "EUR"}

    # Stock drops; the order and its charge are there.
    assert available(gateway, "KIT-KETTLE") == stock_before - 2
    seen = gateway.get(f"{API}/orders/{order['id']}", headers=ada)
    assert seen.json()["status"] == "confirmed"
    assert order["id"] in [
        o["id"] for o in gateway.get(f"{API}/orders", headers=ada).json()["items"]
    ]
    charges = gateway.get(f"{API}/payments/charges", params={"order_id": order["id"]}, headers=ada)
    (charge,) = charges.json()["items"]
    assert (charge["status"], charge["amount"]["amount"]) == ("succeeded", 7800)
    assert gateway.get(f"{API}/cart", headers=ada).json()["items"] == []

    # A declined card: the order fails and the stock stays.
    bob = sign_up(gateway, "bob")
    gateway.put(f"{API}/cart/items/{kettle['id']}", json={"quantity": 1}, headers=bob)
    declined = check_out(gateway, bob, add_card(gateway, bob, "4000000000000002"))
    assert declined["status"] == "failed"
    assert declined["failure"]["reason"] == "payment_declined"
    assert available(gateway, "KIT-KETTLE") == stock_before - 2

    # Other people's orders are not found; customers may not call service routes.
    assert gateway.get(f"{API}/orders/{order['id']}", headers=bob).status_code == 404
    assert gateway.get(f"{API}/payments/charges/{charge['id']}", headers=bob).status_code == 404
    reserve = gateway.post(
        f"{API}/inventory/reservations",
        json={"order_id": str(uuid.uuid4()), "items": [{"sku": "KIT-KETTLE", "quantity": 1}]},
        headers=bob,
    )
    assert reserve.status_code == 403

    # Cancel: stock back, payment refunded.
    cancelled = gateway.post(f"{API}/orders/{order['id']}/cancel", headers=ada)
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    assert available(gateway, "KIT-KETTLE") == stock_before
    refunded = gateway.get(f"{API}/payments/charges/{charge['id']}", headers=ada).json()
    assert refunded["refunded"] == {"amount": 7800, "currency": "EUR"}


def test_a_buyer_reviews_what_they_bought_and_the_rating_follows(gateway: httpx.Client):
    seeds = next(
        p
        for p in gateway.get(f"{API}/products", params={"q": "herb seed"}).json()["items"]
        if p["sku"] == "GAR-SEEDS"
    )

    def rating() -> dict[str, Any]:
        return dict(gateway.get(f"{API}/products/{seeds['id']}").json()["rating"])

    before = rating()
    opinion = {"product_id": seeds["id"], "rating": 1, "title": "Nothing grew"}
    eve = sign_up(gateway, "eve")
    refused = gateway.post(f"{API}/reviews", json=opinion, headers=eve)
    assert refused.status_code == 403, refused.text

    gateway.put(f"{API}/cart/items/{seeds['id']}", json={"quantity": 1}, headers=eve)
    assert check_out(gateway, eve, add_card(gateway, eve, "4242424242424242"))["status"] == (
        "confirmed"
    )

    # review learns of the order from its event: a moment after the checkout, not at once.
    def written() -> dict[str, Any] | None:
        answer = gateway.post(f"{API}/reviews", json=opinion, headers=eve)
        assert answer.status_code in (201, 403), answer.text
        return dict(answer.json()) if answer.status_code == 201 else None

    review = eventually(written, what="review to accept the buyer's review", deadline=30)
    listed = gateway.get(f"{API}/reviews", params={"product_id": seeds["id"]}).json()["items"]
    assert review["id"] in [r["id"] for r in listed]

    def counted(count: int) -> dict[str, Any] | None:
        shown = rating()
        return shown if shown["count"] == count else None

    moved = eventually(
        lambda: counted(before["count"] + 1), what="the product's rating to count the review"
    )
    assert moved["average"] <= (before["average"] or 1.0)

    assert gateway.delete(f"{API}/reviews/{review['id']}", headers=eve).status_code == 204
    back = eventually(
        lambda: counted(before["count"]), what="the deleted review to leave the rating"
    )
    assert back == before


def test_the_status_page_shows_every_service_and_engine_ok(gateway: httpx.Client):
    def all_ok() -> dict[str, Any] | None:
        reply = gateway.get(f"{API}/status")
        body = dict(reply.json()) if reply.status_code == 200 else {}
        return body if body.get("status") == "ok" else None

    body = eventually(all_ok, what="every service and engine ok on the status page")
    assert [s["name"] for s in body["services"]] == [n for n in catalog.names() if n != "health"]
    assert {e["name"] for e in body["engines"]} >= {"postgres", "nats", "s3"}

    page = gateway.get(f"{API}/status", headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    for name in catalog.names():
        if name != "health":
            assert f"<td>{name}</td>" in page.text
