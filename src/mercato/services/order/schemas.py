"""Request and response bodies of the order API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

MAX_QUANTITY = 99


class Strict(BaseModel):
    """A body that refuses unknown fields."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Money(BaseModel):
    """An amount in minor units of a currency."""

    amount: int
    currency: str


class CartLineUpdate(Strict):
    """How many of a product the cart should hold."""

    quantity: int = Field(ge=1, le=MAX_QUANTITY)


class CartLinePublic(BaseModel):
    """A cart line at today's price; ``available`` is false once the product stops selling."""

    product_id: uuid.UUID
    sku: str | None
    name: str | None
    quantity: int
    unit_price: Money | None
    line_total: Money | None
    available: bool


class CartPublic(BaseModel):
    """The cart with line totals and the total of what can be bought."""

    items: list[CartLinePublic]
    total: Money


class ShippingAddress(Strict):
    """Where the order goes."""

    name: str = Field(min_length=1, max_length=200)
    line1: str = Field(min_length=1, max_length=200)
    line2: str | None = Field(default=None, max_length=200)
    city: str = Field(min_length=1, max_length=100)
    postal_code: str = Field(min_length=1, max_length=20)
    country: str = Field(pattern=r"^[A-Za-z]{2}$", description="ISO 3166-1 alpha-2")

    @field_validator("country")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()


class CheckoutCreate(Strict):
    """Checks out the cart: where to ship it and which card pays."""

    shipping_address: ShippingAddress
    payment_method_id: uuid.UUID


class OrderItemPublic(BaseModel):
    """An order line as it was sold."""

    product_id: uuid.UUID
    sku: str
    name: str
    unit_price: Money
    quantity: int
    line_total: Money


class FailurePublic(BaseModel):
    """Why an order failed: ``out_of_stock`` (with the short SKUs), ``payment_declined``..."""

    reason: str
    detail: dict[str, Any]


class OrderPublic(BaseModel):
    """An order as the API shows it."""

    id: uuid.UUID
    user_id: uuid.UUID
    status: str
    items: list[OrderItemPublic]
    total: Money
    shipping_address: dict[str, Any]
    payment_method_id: uuid.UUID
    charge_id: uuid.UUID | None
    failure: FailurePublic | None
    created_at: datetime
    updated_at: datetime
