"""review's use cases: writing, revising, deleting and hiding reviews; who bought what."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from mercato.contracts.order import OrderState
from mercato.contracts.review import (
    ReviewCreated,
    ReviewDeleted,
    ReviewHidden,
    ReviewState,
    ReviewUpdated,
)
from mercato.platform.db import UnitOfWork, utcnow
from mercato.platform.errors import Conflict, Forbidden, NotFound
from mercato.platform.events import Event
from mercato.platform.metrics import Labelled
from mercato.platform.pagination import PageRequest, created_before
from mercato.services.review import repository
from mercato.services.review.models import Review

# What each order event says about the products in the order.
PURCHASE_STATUS = {
    "order.confirmed": "confirmed",
    "order.cancelled": "cancelled",
    "order.refunded": "refunded",
}
ORDER_EVENTS = tuple(PURCHASE_STATUS)


class ReviewNotFound(NotFound):
    """No review with this id, or one the caller did not write."""

    slug, title = "review-not-found", "Review not found"


class NotAVerifiedBuyer(Forbidden):
    """Only a customer with a confirmed order of the product may review it."""

    slug, title = "not-a-verified-buyer", "Not a verified buyer"


class ReviewExists(Conflict):
    """The customer reviewed this product already (they may change that review)."""

    slug, title = "review-exists", "Review exists"


async def apply_order(event: Event[OrderState], uow: UnitOfWork) -> None:
    """Handles ``order.confirmed/cancelled/refunded``: keeps who bought which product."""
    order = event.payload
    await repository.record_purchases(
        uow.session,
        order_id=order.order_id,
        customer_id=order.user_id,
        product_ids={line.product_id for line in order.items},
        status=PURCHASE_STATUS[event.type],
        updated_at=event.time,
    )


def _state(kind: type[ReviewState], review: Review, *, at: datetime | None = None) -> ReviewState:
    """The event ``kind`` carrying ``review``'s state as it stands (or stood ``at``)."""
    return kind(
        review_id=review.id,
        product_id=review.product_id,
        rating=review.rating,
        visible=review.visible,
        updated_at=at or review.updated_at,
    )


def _changed_at(review: Review) -> datetime:
    """Now, or just after the review's last change if the clock says otherwise.

    product keeps a review's newest state by ``updated_at``: two changes in the same
    microsecond (or a clock stepping back) must still be told apart and ordered.
    """
    return max(utcnow(), review.updated_at + timedelta(microseconds=1))


class Reviews:
    """The review use cases; each opens and commits its own unit of work."""

    def __init__(
        self,
        *,
        unit_of_work: Callable[[], UnitOfWork],
        changes: Labelled,
        refusals: Labelled,
    ) -> None:
        self._uow = unit_of_work
        self._changes = changes
        # Refused reviews by reason: buyers refused en masse mean the purchases projection
        # is not fed (an alert watches it).
        self._refusals = refusals

    async def write(
        self, *, author_id: uuid.UUID, product_id: uuid.UUID, rating: int, title: str, body: str
    ) -> Review:
        """Adds the review of a verified buyer and announces ``review.created``."""
        now = utcnow()
        async with self._uow() as uow:
            if not await repository.has_confirmed_purchase(
                uow.session, customer_id=author_id, product_id=product_id
            ):
                self._refusals.labels(reason="not_a_buyer").inc()
                raise NotAVerifiedBuyer(
                    "Only a customer with a confirmed order of this product may review it."
                )
            review = await repository.insert_review_unless_written(
                uow.session,
                {
                    "id": uuid.uuid4(),
                    "product_id": product_id,
                    "author_id": author_id,
                    "rating": rating,
                    "title": title,
                    "body": body,
                    "visible": True,
                    "created_at": now,
                    "updated_at": now,
                },
            )
            if review is None:
                self._refusals.labels(reason="duplicate").inc()
                existing = await repository.review_id_by_author(
                    uow.session, product_id=product_id, author_id=author_id
                )
                raise ReviewExists(
                    "You reviewed this product already; change that review instead.",
                    review_id=str(existing) if existing else None,
                )
            await uow.publish(_state(ReviewCreated, review), subject=review.product_id)
            await uow.commit()
        self._changes.labels(change="created").inc()
        return review

    async def revise(
        self, review_id: uuid.UUID, *, author_id: uuid.UUID, changes: dict[str, Any]
    ) -> Review:
        """Applies the author's ``changes``; announces ``review.updated`` if any."""
        async with self._uow() as uow:
            review = await self._authored(uow, review_id, author_id)
            changed = {k: v for k, v in changes.items() if getattr(review, k) != v}
            if not changed:
                return review
            for field, value in changed.items():
                setattr(review, field, value)
            review.updated_at = _changed_at(review)
            await uow.publish(_state(ReviewUpdated, review), subject=review.product_id)
            await uow.commit()
        self._changes.labels(change="updated").inc()
        return review

    async def delete(self, review_id: uuid.UUID, *, author_id: uuid.UUID) -> None:
        """Removes the author's review and announces ``review.deleted``."""
        async with self._uow() as uow:
            review = await self._authored(uow, review_id, author_id)
            deleted = _state(ReviewDeleted, review, at=_changed_at(review))
            await repository.delete_review(uow.session, review.id)
            await uow.publish(deleted, subject=review.product_id)
            await uow.commit()
        self._changes.labels(change="deleted").inc()

    async def hide(self, review_id: uuid.UUID, *, moderator_id: uuid.UUID) -> Review:
        """Hides the review from the listing and the rating; announces ``review.hidden`` once."""
        async with self._uow() as uow:
            review = await repository.review_for_update(uow.session, review_id)
            if review is None:
                raise ReviewNotFound(f"There is no review {review_id}.")
            if not review.visible:
                return review
            review.visible = False
            review.hidden_by = moderator_id
            review.updated_at = _changed_at(review)
            await uow.publish(_state(ReviewHidden, review), subject=review.product_id)
            await uow.commit()
        self._changes.labels(change="hidden").inc()
        return review

    async def of_product(self, product_id: uuid.UUID, request: PageRequest) -> list[Review]:
        """The product's visible reviews, newest first (``limit + 1`` of them)."""
        async with self._uow() as uow:
            return await repository.visible_reviews_page(
                uow.session,
                product_id=product_id,
                limit=request.limit + 1,
                before=created_before(request),
            )

    @staticmethod
    async def _authored(uow: UnitOfWork, review_id: uuid.UUID, author_id: uuid.UUID) -> Review:
        review = await repository.review_for_update(uow.session, review_id)
        # Someone else's review is answered as if it did not exist: 404, not 403.
        if review is None or review.author_id != author_id:
            raise ReviewNotFound(f"You have no review {review_id}.")
        return review
