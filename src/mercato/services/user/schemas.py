"""Request and response bodies of the user API."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from mercato.platform.schemas import (
    AddressLine,
    City,
    Country,
    PostalCode,
    SecondAddressLine,
    Strict,
)


class ProfileUpdate(Strict):
    """Fields a customer may change; absent fields stay as they are."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    phone: str | None = Field(default=None, pattern=r"^\+[1-9][0-9]{6,14}$")


class AddressCreate(Strict):
    """A new postal address."""

    label: str | None = Field(default=None, max_length=100)
    line1: AddressLine
    line2: SecondAddressLine = None
    city: City
    postal_code: PostalCode
    country: Country


class AddressPublic(BaseModel):
    """A postal address as the API shows it."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    label: str | None
    line1: str
    line2: str | None
    city: str
    postal_code: str
    country: str


class ProfilePublic(BaseModel):
    """A profile as the API shows it."""

    id: uuid.UUID
    email: str
    name: str
    phone: str | None
    addresses: list[AddressPublic]
    avatar_url: str | None
    created_at: datetime


class AvatarUploadRequest(Strict):
    """What the client is about to upload."""

    content_type: str = Field(min_length=1, max_length=100)
    size: int = Field(gt=0)


class PresignedUploadPublic(BaseModel):
    """Where and how to upload."""

    upload_url: str
    method: str
    headers: dict[str, str]
    expires_in: int
