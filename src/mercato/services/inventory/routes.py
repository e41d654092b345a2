"""HTTP routes of inventory: parse, authorize, call one use case."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Response, status

from mercato.catalog import API_PREFIX
from mercato.platform.deps import Provided
from mercato.platform.pagination import Page, PageRequestDep, newest_first, page_of
from mercato.platform.security import AdminUser, CallingService, ServiceOrAdmin
from mercato.services.inventory.models import Stock
from mercato.services.inventory.schemas import (
    SKU_PATTERN,
    AdjustmentPublic,
    AvailabilityPublic,
    ReservationCreate,
    ReservationPublic,
    StockAdjust,
    StockPublic,
    StockSet,
)
from mercato.services.inventory.service import Inventory

router = APIRouter(prefix=f"{API_PREFIX}/inventory", tags=["inventory"])


Sku = Annotated[str, Path(pattern=SKU_PATTERN)]


def _stock(stock: Stock) -> StockPublic:
    return StockPublic.model_validate(stock)


# Reservation routes come first: /reservations/{id} must not be read as /{sku}/...


@router.post("/reservations", status_code=status.HTTP_201_CREATED)
async def reserve(
    body: ReservationCreate, _: CallingService, inventory: Provided[Inventory], response: Response
) -> ReservationPublic:
    """Holds stock for an order, every line or none (services). Idempotent on order_id."""
    reservation, created = await inventory.reserve(
        order_id=body.order_id,
        items=[(line.sku, line.quantity) for line in body.items],
        ttl_seconds=body.ttl_seconds,
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return ReservationPublic.model_validate(reservation)


@router.get("/reservations/{reservation_id}")
async def reservation_by_id(
    reservation_id: uuid.UUID, _: ServiceOrAdmin, inventory: Provided[Inventory]
) -> ReservationPublic:
    """One reservation (services, administrators)."""
    return ReservationPublic.model_validate(await inventory.reservation(reservation_id))


@router.post("/reservations/{reservation_id}/commit")
async def commit_reservation(
    reservation_id: uuid.UUID, _: CallingService, inventory: Provided[Inventory]
) -> ReservationPublic:
    """The held units leave stock for good (services)."""
    return ReservationPublic.model_validate(await inventory.commit(reservation_id))


@router.post("/reservations/{reservation_id}/release")
async def release_reservation(
    reservation_id: uuid.UUID, _: CallingService, inventory: Provided[Inventory]
) -> ReservationPublic:
    """Gives the units back: held ones are released, committed ones returned (services)."""
    return ReservationPublic.model_validate(await inventory.release(reservation_id))


@router.get("/{sku}")
async def availability(sku: Sku, inventory: Provided[Inventory]) -> AvailabilityPublic:
    """Units of a SKU that can be bought now (0 for a SKU never stocked)."""
    return AvailabilityPublic(sku=sku, available=await inventory.available(sku))


@router.put("/{sku}")
async def set_stock(
    sku: Sku, body: StockSet, admin: AdminUser, inventory: Provided[Inventory]
) -> StockPublic:
    """Sets the units on hand after a count (administrators); logged with its reason."""
    stock = await inventory.set_stock(
        sku,
        on_hand=body.on_hand,
        threshold=body.low_stock_threshold,
        reason=body.reason,
        actor=admin.subject,
    )
    return _stock(stock)


@router.post("/{sku}/adjust")
async def adjust_stock(
    sku: Sku, body: StockAdjust, admin: AdminUser, inventory: Provided[Inventory]
) -> StockPublic:
    """Adds or removes units on hand (administrators); logged with its reason."""
    stock = await inventory.adjust_stock(
        sku, delta=body.delta, reason=body.reason, actor=admin.subject
    )
    return _stock(stock)


@router.get("/{sku}/adjustments")
async def adjustments(
    sku: Sku, _: AdminUser, page: PageRequestDep, inventory: Provided[Inventory]
) -> Page[AdjustmentPublic]:
    """The audit log of a SKU's stock changes, newest first (administrators)."""
    rows = await inventory.adjustments(sku, page)
    return page_of(
        rows,
        page,
        AdjustmentPublic.model_validate,
        key=newest_first,
    )
