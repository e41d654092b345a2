"""product's contracts: the product as other services read it, and its events."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from mercato.contracts.calls import Call
from mercato.platform import schemas
from mercato.platform.envelope import EventPayload
from mercato.platform.schemas import MAX_AMOUNT


class Money(schemas.Money):
    """An amount in minor units (cents) of an ISO 4217 currency."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    amount: int = Field(gt=0, le=MAX_AMOUNT, description="minor units, e.g. cents")
    currency: str = Field(pattern=r"^[A-Za-z]{3}$")

    @field_validator("currency")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()


class CategoryPublic(BaseModel):
    """A category as the API shows it."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    slug: str
    name: str


class ImagePublic(BaseModel):
    """An uploaded picture, with a short-lived download URL."""

    id: uuid.UUID
    url: str
    content_type: str


class RatingPublic(BaseModel):
    """The average of the visible reviews' ratings."""

    average: float | None
    count: int


class ProductPublic(BaseModel):
    """A product as the API shows it."""

    id: uuid.UUID
    sku: str
    name: str
    description: str
    price: Money
    category: CategoryPublic | None
    images: list[ImagePublic]
    rating: RatingPublic
    active: bool
    attributes: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class ProductChanged(EventPayload):
    """A product as it stands after the change the event names."""

    product_id: uuid.UUID
    sku: str
    name: str
    price: schemas.Money
    active: bool


class ProductCreated(ProductChanged):
    """A product was added to the catalog."""

    event_type: ClassVar[str] = "product.created"


class ProductUpdated(ProductChanged):
    """A product's name, description, price, category or attributes changed."""

    event_type: ClassVar[str] = "product.updated"


class ProductDeactivated(ProductChanged):
    """A product was taken off sale."""

    event_type: ClassVar[str] = "product.deactivated"


CALLS = (
    Call(
        "GET",
        "/api/v1/products/{product_id}",
        "One product, inactive ones included: order prices cart lines and orders from it.",
        answers={200: ProductPublic},
    ),
)
