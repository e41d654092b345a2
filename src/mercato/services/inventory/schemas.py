"""Request and response bodies of the inventory API."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from mercato.contracts.inventory import (
    MAX_UNITS,
    SKU_PATTERN,
    ReservationCreate,
    ReservationItemPublic,
    ReservationLine,
    ReservationPublic,
)
from mercato.platform.schemas import Strict

__all__ = [
    "MAX_UNITS",
    "SKU_PATTERN",
    "AdjustmentPublic",
    "AvailabilityPublic",
    "ReservationCreate",
    "ReservationItemPublic",
    "ReservationLine",
    "ReservationPublic",
    "StockAdjust",
    "StockPublic",
    "StockSet",
]


class AvailabilityPublic(BaseModel):
    """How many units of a SKU can be bought now."""

    sku: str
    available: int


class StockSet(Strict):
    """Sets the units on hand (a stock count), and optionally the low-stock threshold."""

    on_hand: int = Field(ge=0, le=MAX_UNITS)
    low_stock_threshold: int | None = Field(default=None, ge=0, le=MAX_UNITS)
    reason: str = Field(default="stock count", min_length=1, max_length=500)


class StockAdjust(Strict):
    """Adds (delivery, return) or removes (breakage, loss) units on hand, for a reason."""

    delta: int = Field(ge=-MAX_UNITS, le=MAX_UNITS)
    reason: str = Field(min_length=1, max_length=500)


class StockPublic(BaseModel):
    """A SKU's stock as administrators see it."""

    model_config = ConfigDict(from_attributes=True)

    sku: str
    on_hand: int
    reserved: int
    available: int
    low_stock_threshold: int


class AdjustmentPublic(BaseModel):
    """One entry of the audit log of stock changes."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    sku: str
    kind: str
    delta: int
    on_hand_after: int
    reason: str
    actor: str
    created_at: datetime
