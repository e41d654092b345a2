"""Request and response bodies of the product API."""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field, field_validator, model_validator

from mercato.contracts.product import (
    CategoryPublic,
    ImagePublic,
    Money,
    ProductPublic,
    RatingPublic,
)
from mercato.platform.schemas import Strict

__all__ = [
    "SKU_PATTERN",
    "SLUG_PATTERN",
    "CategoryCreate",
    "CategoryPublic",
    "ImagePublic",
    "ImageUploadPublic",
    "ImageUploadRequest",
    "Money",
    "ProductCreate",
    "ProductPublic",
    "ProductSort",
    "ProductUpdate",
    "RatingPublic",
]

SKU_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
SLUG_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"


class CategoryCreate(Strict):
    """A new category."""

    slug: str = Field(pattern=SLUG_PATTERN, max_length=100)
    name: str = Field(min_length=1, max_length=200)


def _attributes_size(value: dict[str, Any]) -> dict[str, Any]:
    if len(value) > 50:
        raise ValueError("at most 50 attributes")
    return value


class ProductCreate(Strict):
    """A new product."""

    sku: str = Field(pattern=SKU_PATTERN)
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=10_000)
    price: Money
    category_id: uuid.UUID | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)
    active: bool = True

    @field_validator("attributes")
    @classmethod
    def _check_attributes_size(cls, value: dict[str, Any]) -> dict[str, Any]:
        return _attributes_size(value)


class ProductUpdate(Strict):
    """Fields an administrator may change; absent fields stay as they are (SKU never does)."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=10_000)
    price: Money | None = None
    category_id: uuid.UUID | None = None
    attributes: dict[str, Any] | None = None
    active: bool | None = None

    @field_validator("attributes")
    @classmethod
    def _check_attributes_size(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return value if value is None else _attributes_size(value)

    @model_validator(mode="after")
    def _only_category_may_be_cleared(self) -> ProductUpdate:
        for name in self.model_fields_set - {"category_id"}:
            if getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


class ProductSort(StrEnum):
    """Orders of the public listing."""

    relevance = "relevance"
    price_asc = "price_asc"
    price_desc = "price_desc"
    newest = "newest"
    name = "name"


class ImageUploadRequest(Strict):
    """What the administrator is about to upload."""

    content_type: str = Field(min_length=1, max_length=100)
    size: int = Field(gt=0)


class ImageUploadPublic(BaseModel):
    """Where and how to upload the picture; it is listed once the upload is done."""

    image_id: uuid.UUID
    upload_url: str
    method: str
    headers: dict[str, str]
    expires_in: int
