"""Request and response bodies of the review API."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, model_validator

from mercato.platform.schemas import Strict
from mercato.services.review.models import BODY_MAX_LENGTH, TITLE_MAX_LENGTH

Rating = Field(ge=1, le=5, description="1 (poor) to 5 (excellent)")


class ReviewCreate(Strict):
    """A customer's review of a product they bought."""

    product_id: uuid.UUID
    rating: int = Rating
    title: str = Field(min_length=1, max_length=TITLE_MAX_LENGTH)
    body: str = Field(default="", max_length=BODY_MAX_LENGTH)


class ReviewUpdate(Strict):
    """What the author may change; absent fields stay as they are."""

    rating: int | None = Field(default=None, ge=1, le=5)
    title: str | None = Field(default=None, min_length=1, max_length=TITLE_MAX_LENGTH)
    body: str | None = Field(default=None, max_length=BODY_MAX_LENGTH)

    @model_validator(mode="after")
    def _no_nulls(self) -> ReviewUpdate:
        for name in self.model_fields_set:
            if getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


class ReviewPublic(BaseModel):
    """A review as clients see it."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    product_id: uuid.UUID
    author_id: uuid.UUID
    rating: int
    title: str
    body: str
    visible: bool
    created_at: datetime
    updated_at: datetime
