"""The checkout saga: reserve stock, charge, commit; compensate in reverse on failure.

Every step is committed to the order row BEFORE the side effect it names, and each side
effect is idempotent (the reservation on the order id, the charge on its idempotency
key, commit, release and refunds by design). So whoever drives an order next, the
request that created it or the recovery job once its lease has run out, can repeat the
current step safely, and a crash at any point loses nothing. State changes are
conditional on the step read, so each one (and its event) happens once.

:class:`Steps` makes the side effects and tells which move each answer means; the
moves themselves, and which are allowed, are the order's (:mod:`.lifecycle`, and the
methods of :class:`~.models.Order`). :class:`Saga` persists them: lock, move, publish
what the move recorded, commit.

A pending order older than ``pending_timeout_seconds`` is given up on: its reservation is
released, any charge that went through is refunded, and it fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from mercato.contracts.payment import PaymentRefunded
from mercato.platform import faults
from mercato.platform.db import UnitOfWork, utcnow
from mercato.platform.envelope import Event
from mercato.platform.errors import GatewayTimeout, ServiceUnavailable
from mercato.services.order import repository
from mercato.services.order.clients import (
    Cashier,
    ChargeInProgress,
    NothingToRefund,
    OutOfStock,
    PaymentRefused,
    ReservationGone,
    StockKeeper,
    StockLine,
)
from mercato.services.order.lifecycle import CheckoutAnswer, OrderStatus, Outcome, SagaStep
from mercato.services.order.models import Order
from mercato.services.order.settings import Settings

log = logging.getLogger("mercato.order.saga")
MAX_BACKOFF_SECONDS = 10.0

# A move of an order, made by one of its methods (``Order.committed``, ...).
Move = Callable[[Order], None]
# Renders an order as the checkout response (stored for Idempotency-Key replays).
Presenter = Callable[[Order], dict[str, Any]]


class Steps:
    """The saga's side effects: each asks inventory or payment and names the order's move.

    Nothing here touches the database: :class:`Saga` persists the moves.
    """

    def __init__(self, *, settings: Settings, stock: StockKeeper, cashier: Cashier) -> None:
        self._settings = settings
        self._stock = stock
        self._cashier = cashier

    async def next_move(self, order: Order) -> Move | None:
        """Makes the side effect of the order's step; the move it means, or None to wait."""
        if order.step is None:
            return None
        if order.may(Outcome.TIMED_OUT) and self._overdue(order):
            log.warning(
                "giving up on a pending order",
                extra={"order_id": str(order.id), "step": order.step},
            )
            return Order.give_up
        step = {
            SagaStep.RESERVE: self._reserve,
            SagaStep.CHARGE: self._charge,
            SagaStep.COMMIT: self._commit,
            SagaStep.RELEASE: self._release,
            SagaStep.REFUND: self._refund,
        }[SagaStep(order.step)]
        return await step(order)

    def _overdue(self, order: Order) -> bool:
        age = utcnow() - order.created_at
        return age.total_seconds() > self._settings.pending_timeout_seconds

    async def _reserve(self, order: Order) -> Move | None:
        lines = [StockLine(item.sku, item.quantity) for item in order.items]
        try:
            reservation_id = await self._stock.reserve(
                order.id, lines, self._settings.reservation_ttl_seconds
            )
        except OutOfStock as out_of_stock:
            short = out_of_stock.short  # the exception's name is gone once the block ends
            return lambda o: o.out_of_stock(short)
        return lambda o: o.reserved(reservation_id)

    async def _charge(self, order: Order) -> Move | None:
        try:
            charge = await self._cashier.charge(
                key=order.charge_key,
                order_id=order.id,
                amount=order.total_amount,
                currency=order.currency,
                payment_method_id=order.payment_method_id,
                customer_id=order.user_id,
            )
        except ChargeInProgress:
            return None
        except PaymentRefused as refused:
            message = refused.detail
            return lambda o: o.refused(message)
        if charge.status == "succeeded":
            return lambda o: o.charged(charge.id)
        if charge.status == "declined":
            return lambda o: o.declined(charge.id, charge.decline_code)
        return None

    async def _commit(self, order: Order) -> Move | None:
        assert order.reservation_id is not None
        try:
            await self._stock.commit(order.reservation_id)
        except ReservationGone:
            return Order.reservation_expired
        return Order.committed

    async def _release(self, order: Order) -> Move | None:
        if order.reservation_id is not None:
            await self._stock.release(order.reservation_id)
        return Order.released

    async def _refund(self, order: Order) -> Move | None:
        charges = await self._cashier.charges_for(order.id)
        if any(c.status == "processing" for c in charges):
            return None
        for charge in charges:
            if charge.status == "succeeded" and charge.refunded < charge.amount:
                with contextlib.suppress(NothingToRefund):
                    await self._cashier.refund(charge.id)
        return Order.refunded


class Saga:
    """Drives orders through their steps; used by requests and by the recovery job."""

    def __init__(
        self,
        *,
        settings: Settings,
        unit_of_work: Callable[[], UnitOfWork],
        stock: StockKeeper,
        cashier: Cashier,
        present: Presenter,
        reached: Callable[[Order], None] | None = None,
    ) -> None:
        self._settings = settings
        self._uow = unit_of_work
        self._steps = Steps(settings=settings, stock=stock, cashier=cashier)
        self._present = present
        self._reached = reached  # told of every status an order reaches (metrics)
        self._lease = timedelta(seconds=settings.saga_lease_seconds)

    async def advance(self, order_id: uuid.UUID) -> Order:
        """Drives the order as far as it can go now; returns it as it stands."""
        return await self.drive(await self.load(order_id))

    async def drive(self, order: Order) -> Order:
        """Drives ``order``, as last seen, as far as it can go now; returns it as it stands.

        Each move is written only if the order still stands where ``order`` saw it, so an
        order seen a moment ago (just created, say) is driven without reading it again.
        """
        while order.step is not None:
            step = order.step
            try:
                move = await self._steps.next_move(order)
            except (ServiceUnavailable, GatewayTimeout) as exc:
                log.info(
                    "order waits: %s",
                    exc.detail,
                    extra={"order_id": str(order.id), "step": order.step},
                )
                move = None
            if move is None:
                await self._postpone(order)
                return await self.load(order.id)
            order = await self._transition(order, move)
            await faults.point(f"order.after_{step}")
        return order

    async def load(self, order_id: uuid.UUID) -> Order:
        """The order as committed now."""
        async with self._uow() as uow:
            order = await repository.order(uow.session, order_id)
        if order is None:
            raise LookupError(f"no order {order_id}")
        return order

    async def request_cancellation(self, order: Order) -> bool:
        """Starts cancelling a confirmed order; False if it is not (or no longer) one."""
        async with self._uow() as uow:
            current = await repository.order_for_update(uow.session, order.id)
            if current is None or current.status != OrderStatus.CONFIRMED:
                return False
            # Already cancelling (a step set): the caller drives it on.
            if current.may(Outcome.CANCELLATION_REQUESTED):
                uow.session.expunge(current)  # the move is written by _apply, not a flush
                now = utcnow()
                await self._apply(uow, current, lambda o: o.request_cancellation(now))
        return True

    def reached(self, order: Order) -> None:
        """Tells the watcher (metrics) that ``order`` has just reached its status."""
        if self._reached is not None:
            self._reached(order)

    # -- recovery -----------------------------------------------------------

    async def recover_forever(self) -> None:
        """The recovery job: takes over orders whose driver stopped, and drives them on."""
        passes = 0
        while True:
            try:
                await self.recover_once()
                if passes % 600 == 0:
                    await self._forget_old_checkout_keys()
            except Exception:
                log.warning("a recovery pass failed", exc_info=True)
            passes += 1
            await asyncio.sleep(self._settings.recovery_interval_seconds)

    async def recover_once(self) -> int:
        """Drives every order whose lease has run out; returns how many it took."""
        now = utcnow()
        async with self._uow() as uow:
            due = await repository.claim_due_orders(
                uow.session,
                now=now,
                lease_until=now + self._lease,
                limit=self._settings.recovery_batch,
            )
            await uow.commit()
        if due:
            log.info("recovering %d orders", len(due))
        results = await asyncio.gather(*(self.advance(i) for i in due), return_exceptions=True)
        for order_id, result in zip(due, results, strict=True):
            if isinstance(result, BaseException):
                log.error(
                    "recovering an order failed",
                    exc_info=result,
                    extra={"order_id": str(order_id)},
                )
        return len(due)

    async def _forget_old_checkout_keys(self) -> None:
        cutoff = utcnow() - timedelta(hours=self._settings.idempotency_retention_hours)
        async with self._uow() as uow:
            forgotten = await repository.forget_checkout_requests(uow.session, before=cutoff)
            await uow.commit()
        if forgotten:
            log.info("forgot %d old checkout keys", forgotten)

    # -- persistence --------------------------------------------------------

    async def _transition(self, order: Order, move: Move) -> Order:
        """Makes ``move`` if the order is still where ``order`` saw it, with its events.

        Returns the order as it now stands: moved, or as someone else moved it on.
        """
        async with self._uow() as uow:
            moved = await self._apply(uow, order, move)
        return order if moved else await self.load(order.id)

    async def _apply(self, uow: UnitOfWork, order: Order, move: Move) -> bool:
        """Moves the order unless someone moved it on first (False: nothing is written, and
        ``order`` is stale); writes its events and the checkout's answer; commits.
        """
        was = (order.status, order.step)
        before = order.status
        now = utcnow()
        move(order)
        order.attempts = 0
        order.lease_until = now + self._lease
        order.updated_at = now
        if order.status == before:
            if not await repository.save_move(uow.session, order, was=was):
                return False
        else:
            # A new status: the cart's sold lines and the checkout's answer ride with it.
            answer = None
            if before == OrderStatus.PENDING:
                answer = CheckoutAnswer.to(order.status, self._present(order))
            moved, stored = await repository.settle_move(
                uow.session,
                order,
                was=was,
                sold=[i.product_id for i in order.items]
                if order.status == OrderStatus.CONFIRMED
                else [],
                answer=None if answer is None else (answer.status, answer.body),
                now=now,
            )
            if not moved:
                return False
            if stored:
                order.answer = answer
        await publish_recorded(uow, order)
        await uow.commit()
        if order.status != before:
            self.reached(order)
        return True

    async def _postpone(self, order: Order) -> None:
        """Leaves the order for the recovery job, a little later each time."""
        async with self._uow() as uow:
            current = await repository.order_for_update(uow.session, order.id)
            if current is None or (current.status, current.step) != (order.status, order.step):
                return
            current.attempts += 1
            delay = min(MAX_BACKOFF_SECONDS, 0.5 * 2**current.attempts)
            current.lease_until = utcnow() + timedelta(seconds=delay)
            await uow.commit()


async def publish_recorded(uow: UnitOfWork, order: Order) -> None:
    """Writes the events the order's moves recorded to the outbox of ``uow``, once."""
    recorded, order.events = order.events, []
    for payload in recorded:
        await uow.publish(payload, subject=order.id)


async def answer_checkouts(
    session: AsyncSession, order: Order, present: Presenter, *, now: datetime
) -> CheckoutAnswer | None:
    """Stores the order's answer with its checkouts that have none yet (the first wins).

    Returns the answer if it was stored, None if an earlier one was.
    """
    answer = CheckoutAnswer.to(order.status, present(order))
    stored = await repository.complete_checkout_requests(
        session, order_id=order.id, status=answer.status, body=answer.body, now=now
    )
    return answer if stored else None


async def record_refund(event: Event[PaymentRefunded], uow: UnitOfWork) -> None:
    """Handles ``payment.refunded``: a confirmed order whose charge an administrator
    refunded in full, outside a cancellation, becomes ``refunded``.

    Refunds the saga makes itself (cancellation, compensation) find the order already
    moving on (a step set, or not confirmed), which the lifecycle does not let become
    refunded, and change nothing.
    """
    refund = event.payload
    order = await repository.order_for_update(uow.session, refund.order_id)
    if order is None or not order.may(Outcome.REFUNDED_ELSEWHERE):
        return
    # The saga charges the order's total; a producer that names the charge's amount is
    # believed first. ``amount`` is this refund's alone: a partial refund is not in full.
    charged = refund.charged.amount if refund.charged is not None else order.total_amount
    if refund.refunded_total.amount < charged:
        return
    order.refunded_elsewhere()
    order.updated_at = utcnow()
    await publish_recorded(uow, order)
