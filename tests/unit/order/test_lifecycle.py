"""An order moves only as the lifecycle's table allows, and records the events its moves cause."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable

import pytest

from mercato.contracts.order import OrderConfirmed, OrderCreated, OrderFailed
from mercato.platform.db import utcnow
from mercato.platform.errors import Conflict
from mercato.platform.schemas import Money
from mercato.services.order.lifecycle import (
    REACHED,
    TRANSITIONS,
    CheckoutAnswer,
    FailureReason,
    IllegalTransition,
    OrderStatus,
    Outcome,
    SagaStep,
)
from mercato.services.order.models import Order
from tests.unit.order.orders import an_order, published, state

RESERVATION, CHARGE = uuid.uuid4(), uuid.uuid4()
SHORT = [{"sku": "MUG-1", "requested": 2, "available": 1}]

# How each outcome is told to an order: by the one method that makes that move.
MOVES: dict[Outcome, Callable[[Order], None]] = {
    Outcome.RESERVED: lambda o: o.reserved(RESERVATION),
    Outcome.OUT_OF_STOCK: lambda o: o.out_of_stock(SHORT),
    Outcome.CHARGED: lambda o: o.charged(CHARGE),
    Outcome.DECLINED: lambda o: o.declined(CHARGE, "card_declined"),
    Outcome.REFUSED: lambda o: o.refused("not the customer's card"),
    Outcome.COMMITTED: Order.committed,
    Outcome.RESERVATION_EXPIRED: Order.reservation_expired,
    Outcome.TIMED_OUT: Order.give_up,
    Outcome.RELEASED: Order.released,
    Outcome.RELEASED_REFUND_DUE: Order.released,
    Outcome.REFUNDED: Order.refunded,
    Outcome.CANCELLATION_REQUESTED: lambda o: o.request_cancellation(utcnow()),
    Outcome.REFUNDED_ELSEWHERE: Order.refunded_elsewhere,
}

ALLOWED = sorted(TRANSITIONS.items(), key=str)
REFUSED = [
    (status, step, outcome)
    for status, step, outcome in itertools.product(OrderStatus, [*SagaStep, None], Outcome)
    if (status, step, outcome) not in TRANSITIONS
]


def at(status: str, step: str | None, outcome: Outcome) -> Order:
    """An order at (status, step), owing a refund when the outcome is the one that says so."""
    return an_order(status, step, needs_refund=outcome is Outcome.RELEASED_REFUND_DUE)


def test_every_outcome_has_its_move_and_appears_in_the_table():
    assert set(MOVES) == set(Outcome)
    assert {outcome for _, _, outcome in TRANSITIONS} == set(Outcome)


@pytest.mark.parametrize(("move", "target"), ALLOWED, ids=lambda v: "/".join(map(str, v)))
def test_an_allowed_move_takes_the_order_where_the_table_says(move, target):
    status, step, outcome = move
    order = at(status, step, outcome)
    assert order.may(outcome)

    MOVES[outcome](order)

    assert state(order) == target
    reached = target[0] != status
    assert published(order) == ([f"order.{target[0]}"] if reached else [])


@pytest.mark.parametrize(("status", "step", "outcome"), REFUSED, ids=str)
def test_a_move_the_table_does_not_hold_is_refused_and_changes_nothing(status, step, outcome):
    order = at(status, step, outcome)
    assert not order.may(outcome)

    with pytest.raises(IllegalTransition) as refused:
        MOVES[outcome](order)

    assert refused.value.outcome is outcome
    assert state(order) == (status, step)
    assert (order.failure_reason, order.reservation_id, order.charge_id) == (None, None, None)
    assert order.cancel_requested_at is None
    assert order.needs_refund is (outcome is Outcome.RELEASED_REFUND_DUE)
    assert published(order) == []


def test_an_illegal_transition_is_a_conflict():
    with pytest.raises(Conflict):
        an_order(OrderStatus.FAILED, None).request_cancellation(utcnow())


def test_a_placed_order_is_pending_at_reserve_and_records_its_creation():
    order = an_order()
    created = Order.place(
        id=order.id,
        user_id=order.user_id,
        items=order.items,
        currency="EUR",
        shipping_address=order.shipping_address,
        payment_method_id=order.payment_method_id,
        lease_until=order.lease_until,
        now=order.created_at,
    )

    assert state(created) == ("pending", "reserve")
    assert created.total_amount == 2500
    assert created.charge_key == f"order-{order.id}"
    (event,) = created.events
    assert isinstance(event, OrderCreated)
    assert (event.order_id, event.user_id, event.status) == (order.id, order.user_id, "pending")
    assert event.total == Money(amount=2500, currency="EUR")
    assert event.items[0].unit_price == Money(amount=1250, currency="EUR")
    assert event.model_dump(mode="json")["items"][0]["sku"] == "MUG-1"


def test_the_steps_answers_keep_what_the_saga_needs_next():
    order = an_order()
    order.reserved(RESERVATION)
    assert order.reservation_id == RESERVATION
    order.charged(CHARGE)
    assert order.charge_id == CHARGE
    order.committed()
    assert state(order) == ("confirmed", None)
    (confirmed,) = order.events
    assert isinstance(confirmed, OrderConfirmed)
    assert (confirmed.charge_id, confirmed.status) == (CHARGE, "confirmed")


@pytest.mark.parametrize(
    ("step", "tell", "reason", "detail"),
    [
        ("reserve", lambda o: o.out_of_stock(SHORT), "out_of_stock", {"short": SHORT}),
        (
            "charge",
            lambda o: o.declined(CHARGE, "card_declined"),
            "payment_declined",
            {"decline_code": "card_declined"},
        ),
        ("charge", lambda o: o.refused("no"), "payment_refused", {"message": "no"}),
        ("commit", Order.reservation_expired, "reservation_expired", {}),
        ("commit", Order.give_up, "timed_out", {"step": "commit"}),
    ],
)
def test_a_failing_move_says_why(step, tell, reason, detail):
    order = an_order("pending", step)

    tell(order)

    assert (order.failure_reason, order.failure_detail) == (reason, detail)
    assert order.failure_reason in set(FailureReason)


def test_the_failed_event_carries_the_reason():
    order = an_order("pending", "charge")
    order.declined(CHARGE, "card_declined")
    assert published(order) == []  # still pending: the stock is released first

    order.released()

    (failed,) = order.events
    assert isinstance(failed, OrderFailed)
    assert (failed.failure_reason, failed.charge_id) == ("payment_declined", CHARGE)


@pytest.mark.parametrize(("step", "refund_due"), [("reserve", False), ("charge", True)])
def test_giving_up_refunds_only_past_the_reserve_step(step, refund_due):
    order = an_order("pending", step)

    order.give_up()
    order.released()

    assert order.needs_refund is refund_due
    assert state(order) == ("failed", "refund" if refund_due else None)


def test_a_paid_order_whose_reservation_expired_fails_at_once_and_refunds():
    order = an_order("pending", "commit")

    order.reservation_expired()

    assert state(order) == ("failed", "refund")
    assert order.needs_refund is True
    assert published(order) == ["order.failed"]


def test_a_cancellation_is_noted_with_its_time():
    order = an_order("confirmed", None)
    now = utcnow()

    order.request_cancellation(now)

    assert order.cancel_requested_at == now
    assert state(order) == ("confirmed", "release")
    order.released()
    order.refunded()
    assert state(order) == ("cancelled", None)
    assert published(order) == ["order.cancelled"]


@pytest.mark.parametrize("status", list(OrderStatus))
def test_a_checkout_answers_202_while_pending_and_201_once_settled(status):
    answer = CheckoutAnswer.to(status, {"status": str(status)})

    assert answer.status == (202 if status == "pending" else 201)
    assert answer.body == {"status": str(status)}
    assert answer.replayed is False


def test_statuses_and_steps_are_the_strings_kept_in_the_database():
    assert [s.value for s in OrderStatus] == [
        "pending",
        "confirmed",
        "failed",
        "cancelled",
        "refunded",
    ]
    assert [s.value for s in SagaStep] == ["reserve", "charge", "commit", "release", "refund"]
    # A row read back holds plain strings: the lifecycle takes them as they are.
    assert an_order("confirmed", None).may(Outcome.CANCELLATION_REQUESTED)


def test_reaching_a_status_publishes_the_contract_named_after_it():
    assert set(REACHED) == set(OrderStatus) - {OrderStatus.PENDING}
    for status, event in REACHED.items():
        assert event.event_type == f"order.{status}"
