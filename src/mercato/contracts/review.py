"""review's contracts: the events product keeps its rating aggregate from.

Each carries the review's whole state, so product keeps the newest and a late or repeated
event changes nothing (``updated_at`` grows with every change of a review).
"""

from __future__ import annotations

import uuid
from typing import ClassVar

from pydantic import AwareDatetime, Field

from mercato.platform.envelope import EventPayload


class ReviewState(EventPayload):
    """A review's full state when it changed: a late or repeated event changes nothing."""

    review_id: uuid.UUID
    product_id: uuid.UUID
    rating: int = Field(ge=1, le=5)
    visible: bool
    updated_at: AwareDatetime


class ReviewCreated(ReviewState):
    """A verified buyer reviewed a product."""

    event_type: ClassVar[str] = "review.created"


class ReviewUpdated(ReviewState):
    """A review's rating or text changed."""

    event_type: ClassVar[str] = "review.updated"


class ReviewHidden(ReviewState):
    """A moderator hid a review."""

    event_type: ClassVar[str] = "review.hidden"


class ReviewDeleted(ReviewState):
    """A review was deleted."""

    event_type: ClassVar[str] = "review.deleted"
