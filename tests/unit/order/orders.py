"""Orders in memory, with no database: what the lifecycle and saga unit tests start from."""

from __future__ import annotations

import uuid

from mercato.platform.db import utcnow
from mercato.services.order.lifecycle import OrderStatus, SagaStep
from mercato.services.order.models import Order, OrderItem

# The lifecycle never reads the address: any will do.
ADDRESS = {"name": "Ada Lovelace", "city": "London", "country": "GB"}


def an_order(
    status: str = OrderStatus.PENDING,
    step: str | None = SagaStep.RESERVE,
    *,
    sku: str = "MUG-1",
    quantity: int = 2,
    unit_amount: int = 1250,
    needs_refund: bool = False,
) -> Order:
    """A just-placed order of one line, put at (status, step), its creation event taken."""
    order_id = uuid.uuid4()
    now = utcnow()
    order = Order.place(
        id=order_id,
        user_id=uuid.uuid4(),
        items=[
            OrderItem(
                order_id=order_id,
                line=1,
                product_id=uuid.uuid4(),
                sku=sku,
                name=sku.title(),
                unit_amount=unit_amount,
                quantity=quantity,
            )
        ],
        currency="EUR",
        shipping_address=ADDRESS,
        payment_method_id=uuid.uuid4(),
        lease_until=now,
        now=now,
    )
    order.events.clear()
    order.status, order.step, order.needs_refund = status, step, needs_refund
    return order


def state(order: Order) -> tuple[str, str | None]:
    """Where the order stands: (status, step)."""
    return order.status, order.step


def published(order: Order) -> list[str]:
    """Takes the events the order's moves recorded, as the saga does when it publishes."""
    types = [event.event_type for event in order.events]
    order.events.clear()
    return types
