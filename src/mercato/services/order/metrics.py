"""The order service's business metrics: orders by status, the value of confirmed ones."""

from __future__ import annotations

from mercato.platform.metrics import Metrics
from mercato.services.order.lifecycle import OrderStatus
from mercato.services.order.models import Order

# Order totals in major units (euros, not cents): a basket of 5 to 5,000.
VALUE_BUCKETS = (5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0)


class OrderMetrics:
    """Counts each order as it reaches a status; observes the value of confirmed ones."""

    def __init__(self, metrics: Metrics) -> None:
        self._orders = metrics.counter(
            "mercato_orders_total",
            "Orders reaching a status (pending = checkout started); failed ones by reason.",
            ["status", "reason"],
        )
        for status in (OrderStatus.PENDING, OrderStatus.CONFIRMED, OrderStatus.CANCELLED):
            self._orders.labels(status=status, reason="")
        self._value = metrics.histogram(
            "mercato_order_value",
            "Totals of confirmed orders, in major currency units (cents / 100).",
            ["currency"],
            buckets=VALUE_BUCKETS,
        )

    def reached(self, order: Order) -> None:
        """Records that ``order`` has just reached its current status."""
        reason = (order.failure_reason or "unknown") if order.status == OrderStatus.FAILED else ""
        self._orders.labels(status=order.status, reason=reason).inc()
        if order.status == OrderStatus.CONFIRMED:
            self._value.labels(currency=order.currency).observe(order.total_amount / 100)
