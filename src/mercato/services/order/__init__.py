"""order: carts, orders, the checkout saga, idempotency."""
