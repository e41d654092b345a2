"""review's rules that need no database: bodies, the order of changes, what it consumes."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from pydantic import ValidationError

from mercato import catalog
from mercato.platform.db import utcnow
from mercato.services.review.models import Review
from mercato.services.review.schemas import ReviewCreate, ReviewUpdate
from mercato.services.review.service import PURCHASE_STATUS, _changed_at

PRODUCT = str(uuid.uuid4())


def test_a_review_body_is_trimmed_and_its_body_text_optional():
    review = ReviewCreate.model_validate({"product_id": PRODUCT, "rating": 5, "title": "  Fine "})
    assert (review.title, review.body) == ("Fine", "")


@pytest.mark.parametrize(
    "change",
    [{"rating": 0}, {"rating": 6}, {"title": " "}, {"title": "t" * 201}, {"body": "b" * 5001}],
    ids=repr,
)
def test_a_rating_outside_1_to_5_or_oversize_text_is_refused(change):
    with pytest.raises(ValidationError):
        ReviewCreate.model_validate({"product_id": PRODUCT, "rating": 3, "title": "T", **change})


def test_an_update_may_leave_fields_out_but_not_null_them():
    assert ReviewUpdate.model_validate({"body": "Better"}).model_dump(exclude_unset=True) == {
        "body": "Better"
    }
    with pytest.raises(ValidationError, match="title cannot be null"):
        ReviewUpdate.model_validate({"title": None})


def test_every_change_moves_updated_at_forward_even_when_the_clock_does_not():
    later = utcnow() + timedelta(hours=1)  # the last change, stamped by a clock running fast
    review = Review(updated_at=later)
    assert _changed_at(review) == later + timedelta(microseconds=1)
    review.updated_at = utcnow() - timedelta(seconds=5)
    assert _changed_at(review) > review.updated_at + timedelta(seconds=4)


def test_review_handles_exactly_the_order_events_the_catalog_says_it_consumes():
    assert set(PURCHASE_STATUS) == set(catalog.get("review").consumes)
    assert catalog.get("review").depends_on == ()
    for event_type in PURCHASE_STATUS:
        assert catalog.publisher_of(event_type) == "order"
