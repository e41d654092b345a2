"""The saga's paths, from its steps' side effects to the order's moves, with no database.

inventory and payment are in-memory fakes of their use cases; the order lives in memory,
and each move is applied to it as the saga applies it to the locked row.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from mercato.platform.db import utcnow
from mercato.platform.errors import GatewayTimeout, ServiceUnavailable
from mercato.services.order.lifecycle import SagaStep
from mercato.services.order.models import Order
from mercato.services.order.saga import Steps
from mercato.services.order.settings import Settings
from tests.integration.order.fakes import FakeCashier, FakeStock
from tests.unit.order.orders import an_order, published, state

TIMEOUT = 300


@pytest.fixture
def stock() -> FakeStock:
    return FakeStock(on_hand={"MUG-1": 5})


@pytest.fixture
def cashier() -> FakeCashier:
    return FakeCashier()


@pytest.fixture
def steps(stock, cashier) -> Steps:
    return Steps(settings=Settings(pending_timeout_seconds=TIMEOUT), stock=stock, cashier=cashier)


async def drive(steps: Steps, order: Order, *, until: str | None = None) -> Order:
    """Runs the order's steps as the saga does, until it settles, waits or reaches ``until``."""
    while order.step is not None and order.step != until:
        try:
            move = await steps.next_move(order)
        except (ServiceUnavailable, GatewayTimeout):
            move = None  # the saga leaves the order for the recovery job
        if move is None:
            break
        move(order)
    return order


def overdue(order: Order) -> None:
    order.created_at = utcnow() - timedelta(seconds=TIMEOUT + 1)


async def test_a_checkout_reserves_charges_and_commits_then_confirms(steps, stock, cashier):
    order = await drive(steps, an_order(quantity=2))

    assert state(order) == ("confirmed", None)
    assert stock.calls == ["reserve", "commit"]
    assert stock.on_hand["MUG-1"] == 3
    (charge,) = cashier.charges.values()
    assert (charge.key, charge.amount, charge.status) == (order.charge_key, 2500, "succeeded")
    assert order.charge_id == charge.id
    assert published(order) == ["order.confirmed"]


async def test_a_declined_card_releases_the_stock_then_fails(steps, stock, cashier):
    order = an_order()
    cashier.declined.add(order.payment_method_id)

    order = await drive(steps, order)

    assert state(order) == ("failed", None)
    assert order.failure_reason == "payment_declined"
    assert order.failure_detail == {"decline_code": "card_declined"}
    assert stock.calls == ["reserve", "release"]
    assert stock.available("MUG-1") == 5
    assert published(order) == ["order.failed"]


async def test_a_refused_payment_method_releases_the_stock_without_a_charge(steps, stock, cashier):
    order = an_order()
    cashier.foreign.add(order.payment_method_id)

    order = await drive(steps, order)

    assert (order.status, order.failure_reason) == ("failed", "payment_refused")
    assert cashier.charges == {}
    assert stock.available("MUG-1") == 5


async def test_out_of_stock_fails_at_once_and_charges_nothing(steps, stock, cashier):
    order = await drive(steps, an_order(quantity=6))

    assert state(order) == ("failed", None)
    assert order.failure_detail == {"short": [{"sku": "MUG-1", "requested": 6, "available": 5}]}
    assert stock.calls == ["reserve"]
    assert cashier.charges == {}
    assert published(order) == ["order.failed"]


async def test_a_reservation_expired_before_commit_fails_and_refunds_the_charge(
    steps, stock, cashier
):
    order = await drive(steps, an_order(), until=SagaStep.COMMIT)
    stock.expire(order.id)

    order = await drive(steps, order)

    assert state(order) == ("failed", None)
    assert order.failure_reason == "reservation_expired"
    (charge,) = cashier.charges.values()
    assert charge.refunded == charge.amount
    assert stock.on_hand["MUG-1"] == 5
    assert published(order) == ["order.failed"]


async def test_cancelling_a_confirmed_order_returns_the_stock_and_refunds(steps, stock, cashier):
    order = await drive(steps, an_order(quantity=2))
    published(order)

    order.request_cancellation(utcnow())
    order = await drive(steps, order)

    assert state(order) == ("cancelled", None)
    assert stock.on_hand["MUG-1"] == 5
    (charge,) = cashier.charges.values()
    assert charge.refunded == 2500
    assert published(order) == ["order.cancelled"]


async def test_a_slow_charge_waits_and_confirms_once_payment_answers(steps, stock, cashier):
    order = an_order()
    cashier.slow.add(order.payment_method_id)

    order = await drive(steps, order)
    assert state(order) == ("pending", "charge")
    order = await drive(steps, order)
    assert state(order) == ("pending", "charge")  # still processing: no second charge

    cashier.finish_slow_charges("succeeded")
    order = await drive(steps, order)

    assert state(order) == ("confirmed", None)
    assert len(cashier.charges) == 1


async def test_an_order_pending_too_long_is_given_up_and_a_late_charge_refunded(
    steps, stock, cashier
):
    order = an_order()
    cashier.slow.add(order.payment_method_id)
    order = await drive(steps, order)
    overdue(order)

    order = await drive(steps, order)
    assert state(order) == ("failed", "refund")  # waits for payment's verdict on the charge
    assert (order.failure_reason, order.failure_detail) == ("timed_out", {"step": "charge"})
    assert stock.available("MUG-1") == 5

    cashier.finish_slow_charges("succeeded")
    order = await drive(steps, order)

    assert state(order) == ("failed", None)
    (charge,) = cashier.charges.values()
    assert charge.refunded == charge.amount
    assert published(order) == ["order.failed"]


async def test_an_order_given_up_before_its_reservation_fails_without_a_refund_step(
    steps, stock, cashier
):
    order = an_order()
    stock.down = True
    order = await drive(steps, order)
    assert state(order) == ("pending", "reserve")
    overdue(order)

    order = await drive(steps, order)

    assert state(order) == ("failed", None)
    assert order.failure_detail == {"step": "reserve"}
    assert stock.calls == ["reserve"]  # nothing was held: nothing to release
    assert cashier.charges == {}


async def test_a_settled_order_is_not_given_up_however_old(steps, stock, cashier):
    order = await drive(steps, an_order())
    overdue(order)
    order.request_cancellation(utcnow())

    order = await drive(steps, order)

    assert state(order) == ("cancelled", None)
    assert order.failure_reason is None


async def test_repeating_a_step_whose_answer_was_lost_changes_nothing_twice(steps, stock, cashier):
    order = an_order()
    # The saga crashed after the calls but before saving their moves: it repeats them.
    for _ in range(2):
        await steps.next_move(order)
    move = await steps.next_move(order)
    assert move is not None
    move(order)
    for _ in range(2):
        await steps.next_move(order)

    order = await drive(steps, order)

    assert state(order) == ("confirmed", None)
    assert len(stock.reservations) == 1
    assert len(cashier.charges) == 1
    assert stock.on_hand["MUG-1"] == 3


async def test_an_order_with_nothing_left_to_do_has_no_next_move(steps, stock, cashier):
    assert await steps.next_move(an_order("failed", None)) is None
    assert (stock.calls, cashier.charges) == ([], {})
