"""The checkout saga: reserve stock, charge, commit; compensate in reverse on failure.

Every step is committed to the order row BEFORE the side effect it names, and each side
effect is idempotent (the reservation on the order id, the charge on its idempotency
key, commit, release and refunds by design). So whoever drives an order next, the
request that created it or the recovery job once its lease has run out, can repeat the
current step safely, and a crash at any point loses nothing. State changes are
conditional on the step read, so each one (and its event) happens once.

    pending/reserve --ok--> pending/charge --succeeded--> pending/commit --ok--> confirmed
          |                      |  declined/refused             |  reservation gone
       short                     v                               v
          v               pending/release --> failed       failed/refund --> failed
        failed

    confirmed + cancel --> confirmed/release --> confirmed/refund --> cancelled
    confirmed + its charge refunded in full elsewhere (payment.refunded) --> refunded

A pending order older than ``pending_timeout_seconds`` is given up on: its reservation is
released, any charge that went through is refunded, and it fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from mercato.platform import faults
from mercato.platform.db import UnitOfWork, utcnow
from mercato.platform.errors import GatewayTimeout, ServiceUnavailable
from mercato.platform.events import Event
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
from mercato.services.order.models import Order
from mercato.services.order.settings import Settings

log = logging.getLogger("mercato.order.saga")
SOURCE = "order"

PENDING, CONFIRMED, FAILED, CANCELLED = "pending", "confirmed", "failed", "cancelled"
REFUNDED = "refunded"
RESERVE, CHARGE, COMMIT, RELEASE, REFUND = "reserve", "charge", "commit", "release", "refund"
MAX_BACKOFF_SECONDS = 10.0

# Renders an order as the checkout response (stored for Idempotency-Key replays).
Presenter = Callable[[Order], dict[str, Any]]


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
        self._stock = stock
        self._cashier = cashier
        self._present = present
        self._reached = reached  # told of every status an order reaches (metrics)
        self._lease = timedelta(seconds=settings.saga_lease_seconds)

    async def advance(self, order_id: uuid.UUID) -> Order:
        """Drives the order as far as it can go now; returns it as it stands."""
        order = await self.load(order_id)
        while order.step is not None:
            try:
                moved = await self._run_step(order)
            except (ServiceUnavailable, GatewayTimeout) as exc:
                log.info(
                    "order waits: %s",
                    exc.detail,
                    extra={"order_id": str(order.id), "step": order.step},
                )
                moved = None
            if moved is None:
                await self._postpone(order)
                return await self.load(order_id)
            order = moved
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
            if current is None or current.status != CONFIRMED:
                return False
            if current.step is None:
                now = utcnow()
                current.step = RELEASE
                current.cancel_requested_at = now
                current.lease_until = now + self._lease
                current.updated_at = now
                await uow.commit()
        return True

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

    # -- steps --------------------------------------------------------------

    async def _run_step(self, order: Order) -> Order | None:
        if (
            order.status == PENDING
            and order.step in (RESERVE, CHARGE, COMMIT)
            and self._overdue(order)
        ):
            return await self._give_up(order)
        step = {
            RESERVE: self._reserve,
            CHARGE: self._charge,
            COMMIT: self._commit,
            RELEASE: self._release,
            REFUND: self._refund,
        }[order.step or ""]
        return await step(order)

    async def _reserve(self, order: Order) -> Order | None:
        lines = [StockLine(item.sku, item.quantity) for item in order.items]
        try:
            reservation_id = await self._stock.reserve(
                order.id, lines, self._settings.reservation_ttl_seconds
            )
        except OutOfStock as short:
            return await self._transition(
                order,
                status=FAILED,
                step=None,
                failure_reason="out_of_stock",
                failure_detail={"short": short.short},
            )
        reserved = await self._transition(order, step=CHARGE, reservation_id=reservation_id)
        await faults.point("order.after_reserve")
        return reserved

    async def _charge(self, order: Order) -> Order | None:
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
            return await self._transition(
                order,
                step=RELEASE,
                failure_reason="payment_refused",
                failure_detail={"message": refused.detail},
            )
        if charge.status == "succeeded":
            charged = await self._transition(order, step=COMMIT, charge_id=charge.id)
            await faults.point("order.after_charge")
            return charged
        if charge.status == "declined":
            return await self._transition(
                order,
                step=RELEASE,
                charge_id=charge.id,
                failure_reason="payment_declined",
                failure_detail={"decline_code": charge.decline_code},
            )
        return None

    async def _commit(self, order: Order) -> Order | None:
        assert order.reservation_id is not None
        try:
            await self._stock.commit(order.reservation_id)
        except ReservationGone:
            # Paid, but the stock was let go (the reservation expired): give the money back.
            return await self._transition(
                order,
                status=FAILED,
                step=REFUND,
                failure_reason="reservation_expired",
                failure_detail={},
                needs_refund=True,
            )
        return await self._transition(order, status=CONFIRMED, step=None)

    async def _release(self, order: Order) -> Order | None:
        if order.reservation_id is not None:
            await self._stock.release(order.reservation_id)
        if order.status == CONFIRMED:
            return await self._transition(order, step=REFUND)
        return await self._transition(
            order, status=FAILED, step=REFUND if order.needs_refund else None
        )

    async def _refund(self, order: Order) -> Order | None:
        charges = await self._cashier.charges_for(order.id)
        if any(c.status == "processing" for c in charges):
            return None
        for charge in charges:
            if charge.status == "succeeded" and charge.refunded < charge.amount:
                with contextlib.suppress(NothingToRefund):
                    await self._cashier.refund(charge.id)
        if order.status == CONFIRMED:
            return await self._transition(order, status=CANCELLED, step=None)
        return await self._transition(order, step=None)

    async def _give_up(self, order: Order) -> Order | None:
        log.warning(
            "giving up on a pending order",
            extra={"order_id": str(order.id), "step": order.step},
        )
        return await self._transition(
            order,
            step=RELEASE,
            failure_reason="timed_out",
            failure_detail={"step": order.step},
            # Past the reserve step a charge may exist, or still appear: refund it.
            needs_refund=order.step != RESERVE,
        )

    # -- persistence --------------------------------------------------------

    def _overdue(self, order: Order) -> bool:
        age = utcnow() - order.created_at
        return age.total_seconds() > self._settings.pending_timeout_seconds

    async def _transition(self, order: Order, **changes: Any) -> Order:
        """Applies ``changes`` if the order is still where ``order`` saw it, with its event.

        Returns the order as it now stands: changed, or as someone else moved it on.
        """
        async with self._uow() as uow:
            current = await repository.order_for_update(uow.session, order.id)
            moved_on = current is None or (current.status, current.step) != (
                order.status,
                order.step,
            )
            if current is not None and not moved_on:
                await self._apply(uow, current, changes)
        if current is None or moved_on:
            return await self.load(order.id)
        return current

    async def _apply(self, uow: UnitOfWork, order: Order, changes: dict[str, Any]) -> None:
        """Changes the locked order; writes its event and the checkout's answer; commits."""
        before = order.status
        now = utcnow()
        for name, value in changes.items():
            setattr(order, name, value)
        order.attempts = 0
        order.lease_until = now + self._lease
        order.updated_at = now
        if order.status != before:
            await uow.publish(
                f"order.{order.status}", order_event_data(order), subject=order.id, source=SOURCE
            )
            if order.status == CONFIRMED:
                await repository.remove_cart_lines(
                    uow.session, order.user_id, [i.product_id for i in order.items]
                )
            if before == PENDING:
                await repository.complete_checkout_requests(
                    uow.session, order_id=order.id, status=201, body=self._present(order), now=now
                )
        await uow.commit()
        if order.status != before:
            self.reached(order)

    def reached(self, order: Order) -> None:
        """Tells the watcher (metrics) that ``order`` has just reached its status."""
        if self._reached is not None:
            self._reached(order)

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


async def record_refund(event: Event, uow: UnitOfWork) -> None:
    """Handles ``payment.refunded``: a confirmed order whose charge an administrator
    refunded in full, outside a cancellation, becomes ``refunded``.

    Refunds the saga makes itself (cancellation, compensation) find the order already
    moving on (a step set, or not confirmed) and change nothing.
    """
    data = event.data
    refunded, charged = data["refunded_total"]["amount"], data["amount"]["amount"]
    if refunded < charged:
        return
    order = await repository.order_for_update(uow.session, uuid.UUID(data["order_id"]))
    if order is None or order.status != CONFIRMED or order.step is not None:
        return
    order.status = REFUNDED
    order.updated_at = utcnow()
    await uow.publish(f"order.{REFUNDED}", order_event_data(order), subject=order.id, source=SOURCE)


def order_event_data(order: Order) -> dict[str, Any]:
    """The data of an order.* event: the order's state, lines and total."""
    return {
        "order_id": str(order.id),
        "user_id": str(order.user_id),
        "status": order.status,
        "items": [
            {
                "product_id": str(item.product_id),
                "sku": item.sku,
                "name": item.name,
                "quantity": item.quantity,
                "unit_price": {"amount": item.unit_amount, "currency": order.currency},
            }
            for item in order.items
        ],
        "total": {"amount": order.total_amount, "currency": order.currency},
        "charge_id": str(order.charge_id) if order.charge_id else None,
        "failure_reason": order.failure_reason,
    }
