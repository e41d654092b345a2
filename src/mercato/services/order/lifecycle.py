"""An order's lifecycle: its statuses, the saga's steps, the moves between them, the answer.

``status`` is what the customer sees; ``step`` is the saga's next side effect (None when
nothing is left to do). Every move an order can make is one row of :data:`TRANSITIONS`:
what happened (an :class:`Outcome`) to an order at (status, step), and where that takes it.

    pending/reserve --reserved--> pending/charge --charged-> pending/commit --committed--> confirmed
        |                              |  declined, refused       |  reservation expired
    out of stock                       v                          v
        v                       pending/release            failed/refund --refunded--> failed
      failed                        |  released, or released with a refund due
                                    v
                          failed, or failed/refund --refunded--> failed

    pending/reserve, charge or commit --timed out--> pending/release (refund due past reserve)
    confirmed --cancellation requested--> confirmed/release --released--> confirmed/refund
        --refunded--> cancelled
    confirmed --its charge refunded in full elsewhere (payment.refunded)--> refunded
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from mercato.contracts.order import (
    OrderCancelled,
    OrderConfirmed,
    OrderFailed,
    OrderRefunded,
    OrderState,
)
from mercato.platform.errors import Conflict


class OrderStatus(StrEnum):
    """What the customer sees of an order."""

    PENDING = "pending"
    CONFIRMED = "confirmed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    REFUNDED = "refunded"


class SagaStep(StrEnum):
    """The side effect the saga makes next for an order."""

    RESERVE = "reserve"
    CHARGE = "charge"
    COMMIT = "commit"
    RELEASE = "release"
    REFUND = "refund"


class Outcome(StrEnum):
    """What happened to an order: the answer of a step, a customer's or a clock's decision."""

    RESERVED = "reserved"
    OUT_OF_STOCK = "out_of_stock"
    CHARGED = "charged"
    DECLINED = "declined"
    REFUSED = "refused"
    COMMITTED = "committed"
    RESERVATION_EXPIRED = "reservation_expired"
    TIMED_OUT = "timed_out"
    RELEASED = "released"
    RELEASED_REFUND_DUE = "released_refund_due"
    REFUNDED = "refunded"
    CANCELLATION_REQUESTED = "cancellation_requested"
    REFUNDED_ELSEWHERE = "refunded_elsewhere"


class FailureReason(StrEnum):
    """Why an order failed (the ``failure.reason`` of API.md)."""

    OUT_OF_STOCK = "out_of_stock"
    PAYMENT_DECLINED = "payment_declined"
    PAYMENT_REFUSED = "payment_refused"
    RESERVATION_EXPIRED = "reservation_expired"
    TIMED_OUT = "timed_out"


State = tuple[OrderStatus, SagaStep | None]

PENDING, CONFIRMED, FAILED = OrderStatus.PENDING, OrderStatus.CONFIRMED, OrderStatus.FAILED
RESERVE, CHARGE, COMMIT = SagaStep.RESERVE, SagaStep.CHARGE, SagaStep.COMMIT
RELEASE, REFUND = SagaStep.RELEASE, SagaStep.REFUND

# Every allowed move: (status, step, what happened) -> (status, step). Anything else is
# refused. "Failed" means nothing is held any more: a pending order fails only once its
# reservation is released (or gone), and a refund step may follow to give money back.
TRANSITIONS: Final[Mapping[tuple[OrderStatus, SagaStep | None, Outcome], State]] = {
    (PENDING, RESERVE, Outcome.RESERVED): (PENDING, CHARGE),
    (PENDING, RESERVE, Outcome.OUT_OF_STOCK): (FAILED, None),
    (PENDING, CHARGE, Outcome.CHARGED): (PENDING, COMMIT),
    (PENDING, CHARGE, Outcome.DECLINED): (PENDING, RELEASE),
    (PENDING, CHARGE, Outcome.REFUSED): (PENDING, RELEASE),
    (PENDING, COMMIT, Outcome.COMMITTED): (CONFIRMED, None),
    (PENDING, COMMIT, Outcome.RESERVATION_EXPIRED): (FAILED, REFUND),
    (PENDING, RESERVE, Outcome.TIMED_OUT): (PENDING, RELEASE),
    (PENDING, CHARGE, Outcome.TIMED_OUT): (PENDING, RELEASE),
    (PENDING, COMMIT, Outcome.TIMED_OUT): (PENDING, RELEASE),
    (PENDING, RELEASE, Outcome.RELEASED): (FAILED, None),
    (PENDING, RELEASE, Outcome.RELEASED_REFUND_DUE): (FAILED, REFUND),
    (FAILED, REFUND, Outcome.REFUNDED): (FAILED, None),
    (CONFIRMED, None, Outcome.CANCELLATION_REQUESTED): (CONFIRMED, RELEASE),
    (CONFIRMED, RELEASE, Outcome.RELEASED): (CONFIRMED, REFUND),
    (CONFIRMED, REFUND, Outcome.REFUNDED): (OrderStatus.CANCELLED, None),
    (CONFIRMED, None, Outcome.REFUNDED_ELSEWHERE): (OrderStatus.REFUNDED, None),
}


class IllegalTransition(Conflict):
    """A move the lifecycle does not allow from where the order stands."""

    slug, title = "illegal-transition", "Illegal order transition"

    def __init__(self, status: str, step: str | None, outcome: Outcome) -> None:
        super().__init__(f"An order at {status}/{step or '-'} cannot be {outcome}.")
        self.outcome = outcome


def allows(status: str, step: str | None, outcome: Outcome) -> bool:
    """Tells whether an order at (status, step) may make the move ``outcome``."""
    return (OrderStatus(status), _step(step), outcome) in TRANSITIONS


def after(status: str, step: str | None, outcome: Outcome) -> State:
    """Where ``outcome`` takes an order at (status, step); IllegalTransition if nowhere."""
    try:
        return TRANSITIONS[OrderStatus(status), _step(step), outcome]
    except KeyError:
        raise IllegalTransition(status, step, outcome) from None


def _step(step: str | None) -> SagaStep | None:
    return None if step is None else SagaStep(step)


# The event a move publishes when it brings the order to a status (``order.<status>``).
REACHED: Final[Mapping[OrderStatus, type[OrderState]]] = {
    CONFIRMED: OrderConfirmed,
    FAILED: OrderFailed,
    OrderStatus.CANCELLED: OrderCancelled,
    OrderStatus.REFUNDED: OrderRefunded,
}


@dataclass(frozen=True)
class CheckoutAnswer:
    """The HTTP answer to a checkout: stored with its Idempotency-Key, replayed for repeats."""

    status: int
    body: dict[str, Any]
    replayed: bool = False

    @classmethod
    def to(cls, status: str, body: dict[str, Any]) -> CheckoutAnswer:
        """The answer for an order at ``status`` shown as ``body``: 202 pending, else 201."""
        return cls(202 if status == OrderStatus.PENDING else 201, body)
