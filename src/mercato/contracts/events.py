"""Every event contract, by event type: how the chassis finds the model of an event."""

from __future__ import annotations

from mercato.contracts import auth, inventory, order, payment, product, review, user
from mercato.platform.envelope import EventModels, EventPayload

CONTRACTS: tuple[type[EventPayload], ...] = (
    auth.UserRegistered,
    auth.LoginSucceeded,
    auth.LoginFailed,
    auth.RolesChanged,
    user.UserUpdated,
    product.ProductCreated,
    product.ProductUpdated,
    product.ProductDeactivated,
    inventory.LowStock,
    inventory.StockSet,
    inventory.StockAdjusted,
    order.OrderCreated,
    order.OrderConfirmed,
    order.OrderFailed,
    order.OrderCancelled,
    order.OrderRefunded,
    order.CartItemAdded,
    payment.PaymentSucceeded,
    payment.PaymentDeclined,
    payment.PaymentRefunded,
    review.ReviewCreated,
    review.ReviewUpdated,
    review.ReviewHidden,
    review.ReviewDeleted,
)

EVENTS: EventModels = {model.event_type: model for model in CONTRACTS}


def payload_model(event_type: str) -> type[EventPayload]:
    """The contract of ``event_type``; KeyError when there is none."""
    return EVENTS[event_type]
