"""Request and response bodies of the inventory API."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

SKU_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
MAX_UNITS = 1_000_000


class Strict(BaseModel):
    """A body that refuses unknown fields."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


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
