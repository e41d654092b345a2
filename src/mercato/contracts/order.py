"""order's contracts: its events, each order event carrying the order's state when it happened."""

from __future__ import annotations

import uuid
from typing import ClassVar

from pydantic import BaseModel

from mercato.platform.envelope import EventPayload
from mercato.platform.schemas import Money


class OrderLine(BaseModel):
    """A line of an order as it was sold."""

    product_id: uuid.UUID
    sku: str
    name: str
    quantity: int
    unit_price: Money


class OrderState(EventPayload):
    """An order's status, lines and total when the event happened."""

    order_id: uuid.UUID
    user_id: uuid.UUID
    status: str
    items: list[OrderLine]
    total: Money
    charge_id: uuid.UUID | None
    failure_reason: str | None


class OrderCreated(OrderState):
    """A customer checked out; the saga starts."""

    event_type: ClassVar[str] = "order.created"


class OrderConfirmed(OrderState):
    """The stock is taken and the charge went through."""

    event_type: ClassVar[str] = "order.confirmed"


class OrderFailed(OrderState):
    """The order could not be completed; ``failure_reason`` says why, nothing is held."""

    event_type: ClassVar[str] = "order.failed"


class OrderCancelled(OrderState):
    """A confirmed order was cancelled: stock released, charge refunded."""

    event_type: ClassVar[str] = "order.cancelled"


class OrderRefunded(OrderState):
    """A confirmed order's charge was refunded in full outside a cancellation."""

    event_type: ClassVar[str] = "order.refunded"


class CartItemAdded(EventPayload):
    """A customer put a product in their cart, or raised how many of it the cart holds."""

    event_type: ClassVar[str] = "order.cart_item_added"

    user_id: uuid.UUID
    product_id: uuid.UUID
    quantity: int
    added: int
