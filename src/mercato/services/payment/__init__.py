"""payment: payment methods, charges with idempotency keys, refunds, the sandbox processor."""
