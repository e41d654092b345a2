"""What a run keeps: the customers it registered and how its checkouts ended.

Kept apart from the shopper (which imports Locust) so that tests use it without Locust.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# The run's customers: unique emails under this domain, all with this password.
EMAIL_DOMAIN = "load.mercato.dev"
SHOPPER_PASSWORD = "mercato-load-shopper"  # noqa: S105 (throw-away load accounts)

# Checkout outcomes, as the summary names them.
CONFIRMED = "confirmed"
DECLINED = "declined"
OUT_OF_STOCK = "out of stock"
PENDING = "pending"


def checkout_outcome(status: int, order: dict[str, Any], *, declined: bool) -> str | None:
    """How a checkout ended, when that is what the API promises for the card used; None
    for a wrong answer (a good card failing, a declined card confirmed, an odd status)."""
    reason = (order.get("failure") or {}).get("reason")
    state = order.get("status")
    if status == 202 and state == "pending":
        return PENDING
    if status != 201:
        return None
    if state == "confirmed" and not declined:
        return CONFIRMED
    if state == "failed" and reason == "payment_declined" and declined:
        return DECLINED
    if state == "failed" and reason == "out_of_stock":
        return OUT_OF_STOCK
    return None


@dataclass
class Ledger:
    """The customers a run registered and how its checkouts ended (kept by the master)."""

    customers: list[dict[str, str]] = field(default_factory=list)
    checkouts: dict[str, int] = field(default_factory=dict)
    checkouts_sent: int = 0  # answered or not (the end of a run may cut one off)

    def record(self, entry: dict[str, Any]) -> None:
        """Adds one shopper's message: ``{"customer": {...}}``, ``{"checkout_sent": 1}`` or
        ``{"checkout": outcome}``."""
        if "customer" in entry:
            self.customers.append({k: str(v) for k, v in entry["customer"].items()})
        self.checkouts_sent += int(entry.get("checkout_sent", 0))
        if "checkout" in entry:
            outcome = str(entry["checkout"])
            self.checkouts[outcome] = self.checkouts.get(outcome, 0) + 1
