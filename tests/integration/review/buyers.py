"""Customers who bought something, as review learns it: from order's events on the bus."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import jwt

from tests.conftest import Harness
from tests.integration.accounts import customer, envelope, publish_events, scalar, wait_for

REVIEWS = "/api/v1/reviews"
T = TypeVar("T")


def user_id(headers: dict[str, str]) -> str:
    """The user id inside an Authorization header's token."""
    token = headers["Authorization"].removeprefix("Bearer ")
    return str(jwt.decode(token, options={"verify_signature": False})["sub"])


def order_event(
    event_type: str, order_id: uuid.UUID, buyer: str, product_ids: list[str], **extra: Any
) -> dict[str, Any]:
    """An ``order.*`` envelope as order publishes it, one unit of each product."""
    status = event_type.removeprefix("order.")
    data = {
        "order_id": str(order_id),
        "user_id": buyer,
        "status": status,
        "items": [
            {
                "product_id": product_id,
                "sku": f"SKU-{n}",
                "name": f"Product {n}",
                "quantity": 1,
                "unit_price": {"amount": 1000, "currency": "EUR"},
            }
            for n, product_id in enumerate(product_ids)
        ],
        "total": {"amount": 1000 * len(product_ids), "currency": "EUR"},
        "charge_id": None,
        "failure_reason": None,
    }
    return {**envelope(event_type, data, **extra), "subject": str(order_id)}


async def order_events_applied(harness: Harness, review, envelopes: list[dict[str, Any]]) -> None:
    """Publishes order events and waits until review's inbox holds every one of them."""
    before = await scalar(review, "SELECT count(*) FROM inbox")
    await publish_events(harness, envelopes)
    distinct = len({e["id"] for e in envelopes})
    expected = before + distinct
    assert await wait_for(review, "SELECT count(*) FROM inbox", expected) == expected


async def buyer_of(harness: Harness, auth, review, email: str, *product_ids: str) -> dict[str, str]:
    """A customer with a confirmed order of ``product_ids``, known to review; their header."""
    headers = await customer(auth, email)
    await order_events_applied(
        harness,
        review,
        [order_event("order.confirmed", uuid.uuid4(), user_id(headers), list(product_ids))],
    )
    return headers


async def eventually(
    read: Callable[[], Awaitable[T]], done: Callable[[T], bool], *, seconds: float = 15.0
) -> T:
    """Reads until ``done`` holds or the deadline passes; the last value read."""
    deadline = asyncio.get_running_loop().time() + seconds
    value = await read()
    while not done(value) and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.05)
        value = await read()
    return value
