"""Queries of the inventory database."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Integer, String, column, func, select, tuple_, update, values
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from mercato.services.inventory.models import Adjustment, Reservation, ReservationItem, Stock

# The hot path (reserve, commit) speaks Core to the tables: one statement per change, no
# identity map, no flush.
STOCK = Stock.__table__
RESERVATIONS = Reservation.__table__
RESERVATION_ITEMS = ReservationItem.__table__


@dataclass(frozen=True)
class Held:
    """A stock row just after units of it were reserved."""

    sku: str
    on_hand: int
    reserved: int
    low_stock_threshold: int

    @property
    def available(self) -> int:
        """Units that can still be reserved."""
        return self.on_hand - self.reserved


async def available(session: AsyncSession, sku: str) -> int:
    """Units of ``sku`` that can be reserved now (0 for an unknown SKU)."""
    stock = await session.get(Stock, sku)
    return stock.available if stock else 0


async def lock_stock(session: AsyncSession, skus: list[str]) -> dict[str, Stock]:
    """Locks the stock rows of ``skus`` that exist, in SKU order so lockers never deadlock."""
    rows = await session.scalars(
        select(Stock)
        .where(Stock.sku.in_(sorted(set(skus))))
        .order_by(Stock.sku)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return {s.sku: s for s in rows}


async def hold_units(
    session: AsyncSession, sku: str, quantity: int, *, now: datetime
) -> Held | None:
    """Reserves ``quantity`` units of ``sku`` if that many are available (the row stays
    locked until the transaction ends); None when they are not, or there is no such SKU.
    """
    row = (
        await session.execute(
            update(STOCK)
            .where(STOCK.c.sku == sku, STOCK.c.on_hand - STOCK.c.reserved >= quantity)
            .values(reserved=STOCK.c.reserved + quantity, updated_at=now)
            .returning(STOCK.c.sku, STOCK.c.on_hand, STOCK.c.reserved, STOCK.c.low_stock_threshold)
        )
    ).first()
    return None if row is None else Held(*row)


async def hold_locked(
    session: AsyncSession, lines: list[tuple[str, int]], *, now: datetime
) -> list[Held]:
    """Reserves the units of every (sku, quantity) line in one statement; the rows must be
    locked by this transaction already (:func:`lock_available`) and hold enough.
    """
    wanted = values(column("sku", String), column("quantity", Integer), name="wanted").data(lines)
    rows = await session.execute(
        update(STOCK)
        .where(STOCK.c.sku == wanted.c.sku)
        .values(reserved=STOCK.c.reserved + wanted.c.quantity, updated_at=now)
        .returning(STOCK.c.sku, STOCK.c.on_hand, STOCK.c.reserved, STOCK.c.low_stock_threshold)
    )
    return sorted((Held(*row) for row in rows), key=lambda held: held.sku)


async def lock_available(session: AsyncSession, skus: list[str]) -> dict[str, int]:
    """Units available of ``skus`` that exist, their rows locked in SKU order."""
    rows = await session.execute(
        select(STOCK.c.sku, STOCK.c.on_hand - STOCK.c.reserved)
        .where(STOCK.c.sku.in_(sorted(set(skus))))
        .order_by(STOCK.c.sku)
        .with_for_update()
    )
    return {sku: int(available) for sku, available in rows.all()}


async def add_reservation_items(
    session: AsyncSession, reservation_id: uuid.UUID, lines: list[tuple[str, int]]
) -> None:
    """Records the units of each SKU a reservation holds."""
    await session.execute(
        insert(RESERVATION_ITEMS).values(
            [{"reservation_id": reservation_id, "sku": s, "quantity": q} for s, q in lines]
        )
    )


async def commit_held(
    session: AsyncSession, reservation_id: uuid.UUID, *, now: datetime
) -> list[tuple[uuid.UUID, uuid.UUID, datetime, datetime, str, int]]:
    """Marks a held, unexpired reservation committed; its (id, order_id, expires_at,
    created_at, sku, quantity) per item in SKU order, or nothing when it was not such a one.
    """
    committed = (
        update(RESERVATIONS)
        .where(
            RESERVATIONS.c.id == reservation_id,
            RESERVATIONS.c.status == "held",
            RESERVATIONS.c.expires_at > now,
        )
        .values(status="committed", updated_at=now)
        .returning(
            RESERVATIONS.c.id,
            RESERVATIONS.c.order_id,
            RESERVATIONS.c.expires_at,
            RESERVATIONS.c.created_at,
        )
        .cte("committed")
    )
    rows = await session.execute(
        select(
            committed.c.id,
            committed.c.order_id,
            committed.c.expires_at,
            committed.c.created_at,
            RESERVATION_ITEMS.c.sku,
            RESERVATION_ITEMS.c.quantity,
        )
        .join(RESERVATION_ITEMS, RESERVATION_ITEMS.c.reservation_id == committed.c.id)
        .order_by(RESERVATION_ITEMS.c.sku)
    )
    return [tuple(row) for row in rows.all()]  # type: ignore[misc]


async def sell_reserved(session: AsyncSession, sku: str, quantity: int, *, now: datetime) -> None:
    """Takes ``quantity`` reserved units of ``sku`` out of stock for good."""
    await session.execute(
        update(STOCK)
        .where(STOCK.c.sku == sku)
        .values(
            on_hand=STOCK.c.on_hand - quantity,
            reserved=STOCK.c.reserved - quantity,
            updated_at=now,
        )
    )


async def ensure_stock(session: AsyncSession, sku: str, *, threshold: int, now: datetime) -> None:
    """Creates an empty stock row for ``sku`` unless it has one."""
    await session.execute(
        insert(Stock)
        .values(sku=sku, on_hand=0, reserved=0, low_stock_threshold=threshold, updated_at=now)
        .on_conflict_do_nothing(index_elements=[Stock.sku])
    )


async def claim_order(
    session: AsyncSession,
    *,
    reservation_id: uuid.UUID,
    order_id: uuid.UUID,
    expires_at: datetime,
    now: datetime,
) -> bool:
    """Inserts the reservation of ``order_id``; False when the order has one already.

    A concurrent claim of the same order waits here until the first one commits or rolls
    back, so retries of one order never reserve twice.
    """
    claimed = await session.scalar(
        insert(RESERVATIONS)
        .values(
            id=reservation_id,
            order_id=order_id,
            status="held",
            expires_at=expires_at,
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=[RESERVATIONS.c.order_id])
        .returning(RESERVATIONS.c.id)
    )
    return claimed is not None


async def reservation(
    session: AsyncSession, reservation_id: uuid.UUID, *, for_update: bool = False
) -> Reservation | None:
    """The reservation ``reservation_id`` with its items (locked if ``for_update``)."""
    query = select(Reservation).where(Reservation.id == reservation_id)
    if for_update:
        query = query.with_for_update().execution_options(populate_existing=True)
    return await session.scalar(query)


async def reservation_of_order(session: AsyncSession, order_id: uuid.UUID) -> Reservation | None:
    """The reservation made for ``order_id``."""
    return await session.scalar(
        select(Reservation)
        .where(Reservation.order_id == order_id)
        .execution_options(populate_existing=True)
    )


async def lock_expired(session: AsyncSession, *, now: datetime, limit: int) -> list[Reservation]:
    """Held reservations past their expiry, locked; rows another sweeper holds are skipped."""
    rows = await session.scalars(
        select(Reservation)
        .where(Reservation.status == "held", Reservation.expires_at <= now)
        .order_by(Reservation.expires_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(rows)


async def adjustments_page(
    session: AsyncSession, sku: str, *, limit: int, after: tuple[datetime, uuid.UUID] | None
) -> list[Adjustment]:
    """The stock changes of ``sku``, newest first, ``limit`` of them after ``after``."""
    query = (
        select(Adjustment)
        .where(Adjustment.sku == sku)
        .order_by(Adjustment.created_at.desc(), Adjustment.id.desc())
        .limit(limit)
    )
    if after is not None:
        query = query.where(tuple_(Adjustment.created_at, Adjustment.id) < tuple_(*after))
    return list((await session.scalars(query)).all())


async def count_low_stock(session: AsyncSession) -> int:
    """SKUs whose available units are below their low-stock threshold."""
    below = Stock.on_hand - Stock.reserved < Stock.low_stock_threshold
    return int(await session.scalar(select(func.count()).select_from(Stock).where(below)) or 0)
