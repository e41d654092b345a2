"""Settings of the order service."""

from __future__ import annotations

from pydantic import Field

from mercato.platform.settings import ServiceSettings


class Settings(ServiceSettings):
    """order's settings: the currency, cart limits and the saga's clocks."""

    service: str = "order"
    currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$")
    max_cart_lines: int = 50

    # Stock stays reserved this long while the order is paid for; longer than any
    # pending order lives (pending_timeout_seconds), so a live order never loses it.
    reservation_ttl_seconds: int = 900
    # How long a request or the recovery job owns an order it drives; when that runs
    # out (a crash, a slow answer) the recovery job takes the order over.
    saga_lease_seconds: float = 15.0
    recovery_interval_seconds: float = 1.0
    recovery_batch: int = 20
    # A pending order older than this is given up on: compensated and failed.
    pending_timeout_seconds: float = 300.0
    # The charge call's budget: the slow sandbox card (10 s) runs past it and the order
    # answers 202 pending; the recovery job resolves it later.
    charge_timeout_seconds: float = 5.0
    # Idempotency-Key records are kept at least this long (API.md promises 24 h).
    idempotency_retention_hours: int = 48
