"""inventory's use cases: stock counts and adjustments, reservations, expiry, low-stock alerts.

Every change of a stock row happens under its row lock (``SELECT ... FOR UPDATE``, taken
in SKU order), never under an in-process lock: several replicas share the database. The
check constraints on ``stock`` are the last line: a bug cannot make stock negative.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from mercato.contracts.inventory import LowStock, StockAdjusted, StockSet
from mercato.platform.db import UnitOfWork, utcnow
from mercato.platform.errors import Conflict, NotFound, ValidationFailed
from mercato.platform.metrics import Labelled
from mercato.platform.pagination import PageRequest, created_before
from mercato.services.inventory import repository
from mercato.services.inventory.models import Adjustment, Reservation, ReservationItem, Stock
from mercato.services.inventory.settings import Settings

log = logging.getLogger("mercato.inventory")


class InsufficientStock(Conflict):
    """Some SKU has fewer units available than asked for; nothing was reserved."""

    slug, title = "insufficient-stock", "Insufficient stock"


class ReservationNotFound(NotFound):
    """No reservation with this id."""

    slug, title = "reservation-not-found", "Reservation not found"


class ReservationNotHeld(Conflict):
    """The reservation is no longer held (released, expired or returned)."""

    slug, title = "reservation-not-held", "Reservation not held"


class BelowReserved(Conflict):
    """The change would leave fewer units on hand than are reserved, or fewer than none."""

    slug, title = "below-reserved", "Not enough stock on hand"


class Inventory:
    """The inventory use cases; each opens and commits its own unit of work."""

    def __init__(
        self,
        *,
        settings: Settings,
        unit_of_work: Callable[[], UnitOfWork],
        reservations: Labelled | None = None,
    ) -> None:
        self._settings = settings
        self._uow = unit_of_work
        self._reservations = reservations  # counted by result (metrics)

    # -- stock --------------------------------------------------------------

    async def available(self, sku: str) -> int:
        """Units of ``sku`` that can be bought now."""
        async with self._uow() as uow:
            return await repository.available(uow.session, sku)

    async def set_stock(
        self, sku: str, *, on_hand: int, threshold: int | None, reason: str, actor: str
    ) -> Stock:
        """Sets the units on hand (a stock count) and optionally the low-stock threshold."""
        async with self._uow() as uow:
            stock = await self._lock_or_create(uow, sku)
            before = _low_state(stock)
            if on_hand < stock.reserved:
                raise BelowReserved(
                    f"{stock.reserved} units of {sku} are reserved; on hand cannot go below.",
                    reserved=stock.reserved,
                )
            delta = on_hand - stock.on_hand
            if threshold is not None:
                stock.low_stock_threshold = threshold
            stock.on_hand = on_hand
            await self._record(uow, stock, kind="set", delta=delta, reason=reason, actor=actor)
            await self._announce_low_stock(uow, [(stock, before)])
            await uow.commit()
        return stock

    async def adjust_stock(self, sku: str, *, delta: int, reason: str, actor: str) -> Stock:
        """Adds or removes units on hand, for a reason kept in the audit log."""
        if delta == 0:
            raise ValidationFailed(
                "An adjustment changes the stock.",
                errors=[{"loc": ["body", "delta"], "msg": "must not be 0"}],
            )
        async with self._uow() as uow:
            stock = await self._lock_or_create(uow, sku)
            before = _low_state(stock)
            if stock.on_hand + delta < stock.reserved:
                raise BelowReserved(
                    f"{sku} has {stock.on_hand} on hand, {stock.reserved} of them reserved: "
                    f"removing {-delta} is not possible.",
                    on_hand=stock.on_hand,
                    reserved=stock.reserved,
                )
            stock.on_hand += delta
            await self._record(uow, stock, kind="adjust", delta=delta, reason=reason, actor=actor)
            await self._announce_low_stock(uow, [(stock, before)])
            await uow.commit()
        return stock

    async def adjustments(self, sku: str, request: PageRequest) -> list[Adjustment]:
        """The audit log of ``sku``, newest first (``limit + 1`` rows)."""
        after = created_before(request)
        async with self._uow() as uow:
            return await repository.adjustments_page(
                uow.session, sku, limit=request.limit + 1, after=after
            )

    # -- reservations -------------------------------------------------------

    async def reserve(
        self, *, order_id: uuid.UUID, items: Iterable[tuple[str, int]], ttl_seconds: int | None
    ) -> tuple[Reservation, bool]:
        """Holds every line for the order, or none (409 naming the short SKUs).

        Idempotent on ``order_id``: a repeated call returns the order's reservation, with
        False for "not created now".
        """
        ttl = self._ttl(ttl_seconds)
        wanted = Counter[str]()
        for sku, quantity in items:
            wanted[sku] += quantity
        lines = sorted(wanted.items())
        now = utcnow()
        reservation_id = uuid.uuid4()
        expires_at = now + timedelta(seconds=ttl)
        async with self._uow() as uow:
            claimed = await repository.claim_order(
                uow.session,
                reservation_id=reservation_id,
                order_id=order_id,
                expires_at=expires_at,
                now=now,
            )
            if not claimed:
                existing = await repository.reservation_of_order(uow.session, order_id)
                assert existing is not None  # the conflicting claim committed
                return existing, False
            held = await self._hold(uow, lines, now=now)
            await repository.add_reservation_items(uow.session, reservation_id, lines)
            for row, (_, quantity) in zip(held, lines, strict=True):
                # Below the threshold now, and not before these units were held.
                if row.available < row.low_stock_threshold <= row.available + quantity:
                    await uow.publish(
                        LowStock(
                            sku=row.sku, available=row.available, threshold=row.low_stock_threshold
                        ),
                        subject=row.sku,
                    )
            await uow.commit()
        self._count("held")
        reservation = Reservation(
            id=reservation_id,
            order_id=order_id,
            status="held",
            expires_at=expires_at,
            created_at=now,
            updated_at=now,
            items=[
                ReservationItem(reservation_id=reservation_id, sku=sku, quantity=quantity)
                for sku, quantity in lines
            ],
        )
        return reservation, True

    async def _hold(
        self, uow: UnitOfWork, lines: list[tuple[str, int]], *, now: datetime
    ) -> list[repository.Held]:
        """Holds every (sku, quantity) line (sorted by SKU) or raises InsufficientStock.

        One SKU: one conditional UPDATE, which holds the units only if that many are
        available, under the row's lock. Several: their rows locked in SKU order (so lockers
        never deadlock) and checked, then one UPDATE for all.
        """
        if len(lines) == 1:
            ((sku, quantity),) = lines
            row = await repository.hold_units(uow.session, sku, quantity, now=now)
            if row is not None:
                return [row]
        available = await repository.lock_available(uow.session, [sku for sku, _ in lines])
        short = [
            {"sku": sku, "requested": quantity, "available": available.get(sku, 0)}
            for sku, quantity in lines
            if available.get(sku, 0) < quantity
        ]
        if short:
            # Leaving without commit rolls back the claim too: nothing is held.
            self._count("rejected")
            raise InsufficientStock(
                "Not enough stock for: " + ", ".join(str(s["sku"]) for s in short) + ".",
                short=short,
            )
        # Only a single line whose UPDATE found too few units gets here without short
        # lines: it was released meanwhile, and the row is locked now.
        return await repository.hold_locked(uow.session, lines, now=now)

    async def reservation(self, reservation_id: uuid.UUID) -> Reservation:
        """The reservation ``reservation_id``."""
        async with self._uow() as uow:
            return await self._load(uow, reservation_id)

    async def commit(self, reservation_id: uuid.UUID) -> Reservation:
        """The held units leave stock for good. Idempotent; 409 unless held (or committed)."""
        now = utcnow()
        async with self._uow() as uow:
            # The usual case in two statements: held and not expired, so commit it.
            items = await repository.commit_held(uow.session, reservation_id, now=now)
            if items:
                for *_, sku, quantity in items:  # in SKU order: lockers never deadlock
                    await repository.sell_reserved(uow.session, sku, quantity, now=now)
                await uow.commit()
                self._count("committed")
                _, order_id, expires_at, created_at, *_ = items[0]
                return Reservation(
                    id=reservation_id,
                    order_id=order_id,
                    status="committed",
                    expires_at=expires_at,
                    created_at=created_at,
                    updated_at=now,
                    items=[
                        ReservationItem(reservation_id=reservation_id, sku=sku, quantity=quantity)
                        for *_, sku, quantity in items
                    ],
                )
            reservation = await self._load(uow, reservation_id, for_update=True)
            if reservation.status == "committed":
                return reservation
            if reservation.status == "held" and reservation.expires_at <= utcnow():
                # Expired but not swept yet: expire it now, and refuse like the sweeper would.
                await self._give_back(uow, [reservation], new_status="expired")
                await uow.commit()
                self._count("expired")
            if reservation.status != "held":
                raise ReservationNotHeld(
                    f"The reservation is {reservation.status}; it cannot be committed.",
                    reservation_status=reservation.status,
                )
            stock = await repository.lock_stock(uow.session, [i.sku for i in reservation.items])
            now = utcnow()
            for item in reservation.items:
                stock[item.sku].on_hand -= item.quantity
                stock[item.sku].reserved -= item.quantity
                stock[item.sku].updated_at = now
            reservation.status = "committed"
            reservation.updated_at = now
            await uow.commit()
            self._count("committed")
        return reservation

    async def release(self, reservation_id: uuid.UUID) -> Reservation:
        """Gives the units back: a held reservation is released, a committed one returned.

        Idempotent: releasing one that is released, expired or returned changes nothing.
        """
        async with self._uow() as uow:
            reservation = await self._load(uow, reservation_id, for_update=True)
            if reservation.status == "held":
                await self._give_back(uow, [reservation], new_status="released")
                await uow.commit()
                self._count("released")
            elif reservation.status == "committed":
                await self._give_back(uow, [reservation], new_status="returned")
                await uow.commit()
                self._count("returned")
        return reservation

    async def expire_overdue(self) -> int:
        """Releases one batch of held reservations past their expiry; how many it released.

        Safe with a sweeper in every replica: each one skips the rows another has locked.
        """
        async with self._uow() as uow:
            overdue = await repository.lock_expired(
                uow.session, now=utcnow(), limit=self._settings.sweep_batch_size
            )
            if not overdue:
                return 0
            await self._give_back(uow, overdue, new_status="expired")
            await uow.commit()
        self._count("expired", len(overdue))
        log.info("released expired reservations", extra={"count": len(overdue)})
        return len(overdue)

    async def sweep_periodically(self) -> None:
        """The sweeper job: expires overdue reservations until cancelled."""
        while True:
            released = await self.expire_overdue()
            if released < self._settings.sweep_batch_size:
                await asyncio.sleep(self._settings.sweep_interval_seconds)

    async def low_stock_skus(self) -> int:
        """How many SKUs are below their low-stock threshold now."""
        async with self._uow() as uow:
            return await repository.count_low_stock(uow.session)

    # -- helpers ------------------------------------------------------------

    def _count(self, result: str, reservations: int = 1) -> None:
        if self._reservations is not None:
            self._reservations.labels(result=result).inc(reservations)

    def _ttl(self, ttl_seconds: int | None) -> int:
        ttl = ttl_seconds or self._settings.reservation_ttl_seconds
        if ttl > self._settings.reservation_max_ttl_seconds:
            raise ValidationFailed(
                "The reservation would be held too long.",
                errors=[
                    {
                        "loc": ["body", "ttl_seconds"],
                        "msg": f"must be at most {self._settings.reservation_max_ttl_seconds}",
                    }
                ],
            )
        return ttl

    async def _lock_or_create(self, uow: UnitOfWork, sku: str) -> Stock:
        await repository.ensure_stock(
            uow.session, sku, threshold=self._settings.default_low_stock_threshold, now=utcnow()
        )
        return (await repository.lock_stock(uow.session, [sku]))[sku]

    @staticmethod
    async def _give_back(
        uow: UnitOfWork, reservations: list[Reservation], *, new_status: str
    ) -> None:
        """Returns the units of held (to available) or committed (to on hand) reservations."""
        stock = await repository.lock_stock(
            uow.session, [i.sku for r in reservations for i in r.items]
        )
        now = utcnow()
        for reservation in reservations:
            for item in reservation.items:
                if reservation.status == "held":
                    stock[item.sku].reserved -= item.quantity
                elif reservation.status == "committed":
                    stock[item.sku].on_hand += item.quantity
                stock[item.sku].updated_at = now
            reservation.status = new_status
            reservation.updated_at = now

    @staticmethod
    async def _record(
        uow: UnitOfWork, stock: Stock, *, kind: str, delta: int, reason: str, actor: str
    ) -> None:
        now = utcnow()
        stock.updated_at = now
        if delta:
            uow.session.add(
                Adjustment(
                    id=uuid.uuid4(),
                    sku=stock.sku,
                    kind=kind,
                    delta=delta,
                    on_hand_after=stock.on_hand,
                    reason=reason,
                    actor=actor,
                    created_at=now,
                )
            )
            changed = StockSet if kind == "set" else StockAdjusted
            await uow.publish(
                changed(
                    sku=stock.sku, delta=delta, on_hand=stock.on_hand, reason=reason, actor=actor
                ),
                subject=stock.sku,
            )

    @staticmethod
    async def _announce_low_stock(uow: UnitOfWork, changes: list[tuple[Stock, bool]]) -> None:
        """Publishes ``inventory.low_stock`` for each SKU that just fell below its threshold."""
        for stock, was_low in changes:
            if _low_state(stock) and not was_low:
                await uow.publish(
                    LowStock(
                        sku=stock.sku,
                        available=stock.available,
                        threshold=stock.low_stock_threshold,
                    ),
                    subject=stock.sku,
                )

    @staticmethod
    async def _load(
        uow: UnitOfWork, reservation_id: uuid.UUID, *, for_update: bool = False
    ) -> Reservation:
        reservation = await repository.reservation(
            uow.session, reservation_id, for_update=for_update
        )
        if reservation is None:
            raise ReservationNotFound("There is no such reservation.")
        return reservation


def _available(stock: Stock | None) -> int:
    return stock.available if stock else 0


def _low_state(stock: Stock) -> bool:
    """Below its threshold: the state whose onset ``inventory.low_stock`` announces."""
    return stock.available < stock.low_stock_threshold
