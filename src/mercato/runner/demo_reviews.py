"""Demo reviews: the demo customer's confirmed orders, each product of them reviewed once.

Part of ``mercato seed`` (:func:`seed_reviews`, called from the seed's main flow once the
catalog and the demo customer exist). The demo customer places one demo order with the
sandbox's test card if they have no order yet; then every product of their confirmed orders
gets the review below, so a fresh ``make run ARGS=--seed`` shows ratings. Idempotent: an
existing order means no new one, an existing review answers 409 and is counted as there.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from mercato.runner.seed import Gateway, SeedError

# What the demo customer bought, and what they thought of it: well-stocked products no
# other test counts exactly (see tests/e2e/test_load.py's SPARE).
DEMO_REVIEWS: dict[str, tuple[int, str, str]] = {
    "KIT-PRESS": (5, "Strong coffee, easy to clean", "The mesh keeps every ground out."),
    "LIG-CANDLE": (4, "Smell of honey", "They burn long and evenly; the wicks need trimming."),
    "STA-NOTE": (3, "Nice paper, thin cover", "The pages take ink well; the cover bends."),
}
DEMO_CARD = {"card_number": "4242424242424242", "exp_month": 12, "exp_year": 2035, "cvc": "123"}
DEMO_ADDRESS = {
    "name": "Demo Shopper",
    "line1": "1 Market Street",
    "city": "Lyon",
    "postal_code": "69001",
    "country": "FR",
}
# The order's saga and the events that tell review of it take a moment.
SETTLE_SECONDS = 60.0
POLL_SECONDS = 0.25


@dataclass
class ReviewsSeeded:
    """What the demo reviews step did."""

    order_placed: bool = False
    reviews_written: int = 0
    reviews_existing: int = 0


async def seed_reviews(api: Gateway, *, email: str, password: str) -> ReviewsSeeded:
    """Gives the demo customer a confirmed order and reviews every product of it."""
    done = ReviewsSeeded()
    saved, api.token = api.token, None
    try:
        login = await api.expect(
            "POST", "/auth/login", {"email": email, "password": password}, ok=(200,)
        )
        api.token = str(login.body["access_token"])
        orders = await _orders(api)
        if not orders:
            orders = [await _place_demo_order(api)]
            done.order_placed = True
        bought = {
            item["product_id"]
            for order in orders
            if order["status"] == "confirmed"
            for item in order["items"]
        }
        skus = {item["product_id"]: item["sku"] for o in orders for item in o["items"]}
        for product_id in sorted(bought, key=lambda p: skus[p]):
            rating, title, body = DEMO_REVIEWS.get(skus[product_id], (4, "Does the job", ""))
            written = await _review(
                api, {"product_id": product_id, "rating": rating, "title": title, "body": body}
            )
            if written:
                done.reviews_written += 1
            else:
                done.reviews_existing += 1
    finally:
        api.token = saved
    return done


async def _orders(api: Gateway) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        query = "?limit=100" + (f"&cursor={cursor}" if cursor else "")
        page = (await api.expect("GET", "/orders" + query, ok=(200,))).body
        found += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return found


async def _place_demo_order(api: Gateway) -> dict[str, Any]:
    listed = await api.expect("GET", "/products?limit=100", ok=(200,))
    ids = {p["sku"]: p["id"] for p in listed.body["items"]}
    card = await api.expect("POST", "/payments/methods", DEMO_CARD, ok=(201,))
    for sku in DEMO_REVIEWS:
        await api.expect("PUT", f"/cart/items/{ids[sku]}", {"quantity": 1}, ok=(200,))
    placed = await api.expect(
        "POST",
        "/orders",
        {"shipping_address": DEMO_ADDRESS, "payment_method_id": card.body["id"]},
        ok=(201, 202),
        headers={"Idempotency-Key": "mercato-demo-order"},
    )
    order: dict[str, Any] = placed.body
    deadline = asyncio.get_running_loop().time() + SETTLE_SECONDS
    while order["status"] == "pending" and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(POLL_SECONDS)
        order = (await api.expect("GET", f"/orders/{order['id']}", ok=(200,))).body
    if order["status"] != "confirmed":
        raise SeedError(f"the demo order {order['id']} ended {order['status']}, not confirmed")
    return order


async def _review(api: Gateway, review: dict[str, Any]) -> bool:
    """Writes the review; False when it was there. Waits for review to learn of the order."""
    deadline = asyncio.get_running_loop().time() + SETTLE_SECONDS
    while True:
        answer = await api.expect("POST", "/reviews", review, ok=(201, 403, 409))
        if answer.status != 403:
            return answer.status == 201
        if asyncio.get_running_loop().time() >= deadline:
            raise SeedError(f"review never learnt of the demo order of {review['product_id']}")
        await asyncio.sleep(POLL_SECONDS)
