"""inventory's contracts: stock reservations (order holds, commits, releases) and its events."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from mercato.contracts.calls import Call
from mercato.platform.envelope import EventPayload
from mercato.platform.schemas import Strict

SKU_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
MAX_UNITS = 1_000_000


class ReservationLine(Strict):
    """Units of one SKU to hold."""

    sku: str = Field(pattern=SKU_PATTERN)
    quantity: int = Field(gt=0, le=MAX_UNITS)


class ReservationCreate(Strict):
    """Holds stock for an order: every line, or none."""

    order_id: uuid.UUID
    items: list[ReservationLine] = Field(min_length=1, max_length=100)
    ttl_seconds: int | None = Field(default=None, ge=1)


class ReservationItemPublic(BaseModel):
    """Units of one SKU in a reservation."""

    model_config = ConfigDict(from_attributes=True)

    sku: str
    quantity: int


class ReservationPublic(BaseModel):
    """A reservation as the API shows it."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    order_id: uuid.UUID
    status: str
    items: list[ReservationItemPublic]
    expires_at: datetime
    created_at: datetime
    updated_at: datetime


class ShortLine(BaseModel):
    """A SKU a reservation could not hold: what was asked for and what is available."""

    sku: str
    requested: int
    available: int


class InsufficientStockProblem(BaseModel):
    """What order reads of the 409 problem+json of a reservation refused for want of stock."""

    detail: str
    short: list[ShortLine]


class LowStock(EventPayload):
    """A SKU's available units fell below its threshold."""

    event_type: ClassVar[str] = "inventory.low_stock"

    sku: str
    available: int
    threshold: int


class StockChanged(EventPayload):
    """An administrator changed a SKU's units on hand (audit): by ``delta``, to ``on_hand``."""

    sku: str
    delta: int
    on_hand: int
    reason: str
    actor: str


class StockSet(StockChanged):
    """A stock count set a SKU's units on hand."""

    event_type: ClassVar[str] = "inventory.stock_set"


class StockAdjusted(StockChanged):
    """Units were added to or removed from a SKU's stock, for a reason."""

    event_type: ClassVar[str] = "inventory.stock_adjusted"


CALLS = (
    Call(
        "POST",
        "/api/v1/inventory/reservations",
        "Holds stock for an order, every line or none; idempotent on order_id.",
        body=ReservationCreate,
        answers={201: ReservationPublic, 200: ReservationPublic, 409: InsufficientStockProblem},
    ),
    Call(
        "POST",
        "/api/v1/inventory/reservations/{reservation_id}/commit",
        "The held units leave stock for good.",
        answers={200: ReservationPublic},
    ),
    Call(
        "POST",
        "/api/v1/inventory/reservations/{reservation_id}/release",
        "Gives the units back: held ones are released, committed ones returned.",
        answers={200: ReservationPublic},
    ),
)
