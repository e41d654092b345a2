"""Events as order and auth publish them, dated, for the analytics tests."""

from __future__ import annotations

import uuid
from typing import Any

from tests.integration.accounts import envelope

EUR = "EUR"


def dated(event_type: str, data: dict[str, Any], at: str, subject: uuid.UUID) -> dict[str, Any]:
    """An envelope of ``event_type`` that happened at ``at`` (RFC 3339)."""
    return {**envelope(event_type, data), "time": at, "subject": str(subject)}


def line(product_id: uuid.UUID, name: str, quantity: int, unit: int) -> dict[str, Any]:
    """An order line as order's events carry it."""
    return {
        "product_id": str(product_id),
        "sku": name.upper(),
        "name": name,
        "quantity": quantity,
        "unit_price": {"amount": unit, "currency": EUR},
    }


def order_event(
    event_type: str,
    order_id: uuid.UUID,
    user_id: uuid.UUID,
    lines: list[dict[str, Any]],
    at: str,
) -> dict[str, Any]:
    """An ``order.*`` event carrying the order's state."""
    status = event_type.split(".")[1].replace("created", "pending")
    return dated(
        event_type,
        {
            "order_id": str(order_id),
            "user_id": str(user_id),
            "status": status,
            "items": lines,
            "total": {
                "amount": sum(i["quantity"] * i["unit_price"]["amount"] for i in lines),
                "currency": EUR,
            },
            "charge_id": None,
            "failure_reason": "card_declined" if event_type == "order.failed" else None,
        },
        at,
        order_id,
    )


def cart_item_added(user_id: uuid.UUID, product_id: uuid.UUID, at: str) -> dict[str, Any]:
    """An ``order.cart_item_added`` event: one more of a product in the customer's cart."""
    return dated(
        "order.cart_item_added",
        {"user_id": str(user_id), "product_id": str(product_id), "quantity": 1, "added": 1},
        at,
        user_id,
    )


def registered(at: str) -> dict[str, Any]:
    """A ``user.registered`` event of a new customer."""
    user_id = uuid.uuid4()
    return dated(
        "user.registered",
        {
            "user_id": str(user_id),
            "email": f"{user_id.hex[:8]}@example.com",
            "name": "New",
            "roles": ["customer"],
        },
        at,
        user_id,
    )
