"""HTTP routes of review: parse, authorize, call one use case."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, status

from mercato.catalog import API_PREFIX
from mercato.platform.deps import Provided
from mercato.platform.pagination import Page, PageRequestDep, newest_first, page_of
from mercato.platform.security import AdminUser, CurrentUser
from mercato.services.review.schemas import ReviewCreate, ReviewPublic, ReviewUpdate
from mercato.services.review.service import Reviews

router = APIRouter(prefix=f"{API_PREFIX}/reviews", tags=["review"])


@router.get("")
async def list_reviews(
    product_id: uuid.UUID, page: PageRequestDep, reviews: Provided[Reviews]
) -> Page[ReviewPublic]:
    """A product's visible reviews, newest first (public)."""
    rows = await reviews.of_product(product_id, page)
    return page_of(rows, page, ReviewPublic.model_validate, key=newest_first)


@router.post("", status_code=status.HTTP_201_CREATED)
async def write_review(
    body: ReviewCreate, user: CurrentUser, reviews: Provided[Reviews]
) -> ReviewPublic:
    """Reviews a product; 403 without a confirmed order of it, 409 for a second review."""
    review = await reviews.write(
        author_id=user.user_id,
        product_id=body.product_id,
        rating=body.rating,
        title=body.title,
        body=body.body,
    )
    return ReviewPublic.model_validate(review)


@router.patch("/{review_id}")
async def revise_review(
    review_id: uuid.UUID, body: ReviewUpdate, user: CurrentUser, reviews: Provided[Reviews]
) -> ReviewPublic:
    """Changes one's own review; anyone else's is 404."""
    review = await reviews.revise(
        review_id, author_id=user.user_id, changes=body.model_dump(exclude_unset=True)
    )
    return ReviewPublic.model_validate(review)


@router.delete("/{review_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_review(
    review_id: uuid.UUID, user: CurrentUser, reviews: Provided[Reviews]
) -> None:
    """Deletes one's own review; anyone else's is 404."""
    await reviews.delete(review_id, author_id=user.user_id)


@router.post("/{review_id}/hide")
async def hide_review(
    review_id: uuid.UUID, admin: AdminUser, reviews: Provided[Reviews]
) -> ReviewPublic:
    """Hides a review from the listing and the product's rating (administrators)."""
    return ReviewPublic.model_validate(await reviews.hide(review_id, moderator_id=admin.user_id))
