"""Request and response bodies of the order API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from mercato.platform.schemas import (
    AddressLine,
    City,
    Country,
    Money,
    PostalCode,
    SecondAddressLine,
    Strict,
)

__all__ = [
    "MAX_QUANTITY",
    "CartLinePublic",
    "CartLineUpdate",
    "CartPublic",
    "CheckoutCreate",
    "FailurePublic",
    "OrderItemPublic",
    "OrderPublic",
    "ShippingAddress",
]

MAX_QUANTITY = 99


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
    line1: AddressLine
    line2: SecondAddressLine = None
    city: City
    postal_code: PostalCode
    country: Country


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
