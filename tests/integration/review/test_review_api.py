"""The review API: verified buyers review, authors revise and delete, admins hide."""

from __future__ import annotations

import uuid
from datetime import datetime

import pytest

from tests.conftest import Harness
from tests.integration.accounts import admin, customer, publish_events, scalar, wait_for
from tests.integration.review.buyers import (
    REVIEWS,
    buyer_of,
    order_event,
    order_events_applied,
    user_id,
)

PRODUCT = str(uuid.uuid4())


def when(review: dict) -> datetime:
    return datetime.fromisoformat(review["updated_at"])


def opinion(product_id: str = PRODUCT, rating: int = 4, **fields) -> dict:
    return {
        "product_id": product_id,
        "rating": rating,
        "title": "Good",
        "body": "It works.",
        **fields,
    }


@pytest.fixture
async def shop(harness: Harness):
    auth = await harness.start("auth")
    review = await harness.start("review")
    return auth, review


async def test_a_verified_buyer_reviews_and_anyone_reads_it(harness: Harness, shop):
    auth, review = shop
    buyer = await buyer_of(harness, auth, review, "ada@example.com", PRODUCT)

    written = await review.client.post(REVIEWS, json=opinion(), headers=buyer)

    assert written.status_code == 201, written.text
    body = written.json()
    assert body["author_id"] == user_id(buyer)
    assert (body["product_id"], body["rating"], body["title"], body["visible"]) == (
        PRODUCT,
        4,
        "Good",
        True,
    )
    listed = await review.client.get(REVIEWS, params={"product_id": PRODUCT})
    assert listed.status_code == 200
    assert [r["id"] for r in listed.json()["items"]] == [body["id"]]
    assert listed.json()["next_cursor"] is None
    created = "SELECT count(*) FROM outbox WHERE type = 'review.created' AND subject = :p"
    assert await scalar(review, created, p=PRODUCT) == 1


async def test_a_customer_without_a_confirmed_order_of_the_product_is_refused(
    harness: Harness, shop
):
    auth, review = shop
    other_product = str(uuid.uuid4())
    buyer = await buyer_of(harness, auth, review, "ada@example.com", other_product)
    stranger = await customer(auth, "bob@example.com")

    for who in (buyer, stranger):
        refused = await review.client.post(REVIEWS, json=opinion(), headers=who)
        assert refused.status_code == 403, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["type"].endswith("/not-a-verified-buyer")
    anonymous = await review.client.post(REVIEWS, json=opinion())
    assert anonymous.status_code == 401
    assert await scalar(review, "SELECT count(*) FROM reviews") == 0


async def test_a_cancelled_or_refunded_order_does_not_entitle_a_review(harness: Harness, shop):
    auth, review = shop
    ada = await customer(auth, "ada@example.com")
    bob = await customer(auth, "bob@example.com")
    ada_order, bob_order = uuid.uuid4(), uuid.uuid4()
    await order_events_applied(
        harness,
        review,
        [
            order_event("order.confirmed", ada_order, user_id(ada), [PRODUCT]),
            order_event("order.cancelled", ada_order, user_id(ada), [PRODUCT]),
            # Out of order: the refund overtakes the confirmation, which must not revive it.
            order_event("order.refunded", bob_order, user_id(bob), [PRODUCT]),
            order_event("order.confirmed", bob_order, user_id(bob), [PRODUCT]),
        ],
    )

    for who in (ada, bob):
        refused = await review.client.post(REVIEWS, json=opinion(), headers=who)
        assert refused.status_code == 403, refused.text


async def test_a_redelivered_order_event_has_one_effect(harness: Harness, shop):
    auth, review = shop
    ada = await customer(auth, "ada@example.com")
    confirmed = order_event("order.confirmed", uuid.uuid4(), user_id(ada), [PRODUCT])

    await order_events_applied(harness, review, [confirmed, confirmed])

    assert await scalar(review, "SELECT count(*) FROM inbox") == 1
    assert await scalar(review, "SELECT count(*) FROM purchases") == 1
    written = await review.client.post(REVIEWS, json=opinion(), headers=ada)
    assert written.status_code == 201, written.text


async def test_second_review_of_same_product_is_rejected(harness: Harness, shop):
    auth, review = shop
    buyer = await buyer_of(harness, auth, review, "ada@example.com", PRODUCT)
    first = await review.client.post(REVIEWS, json=opinion(), headers=buyer)
    assert first.status_code == 201

    second = await review.client.post(REVIEWS, json=opinion(rating=1), headers=buyer)

    assert second.status_code == 409, second.text
    assert second.json()["type"].endswith("/review-exists")
    assert second.json()["review_id"] == first.json()["id"]
    assert await scalar(review, "SELECT count(*) FROM outbox") == 1


@pytest.mark.parametrize(
    "change",
    [
        {"rating": 0},
        {"rating": 6},
        {"rating": "five"},
        {"title": ""},
        {"title": "x" * 201},
        {"body": "x" * 5001},
        {"product_id": "not-a-product"},
        {"verified": True},
    ],
    ids=repr,
)
async def test_a_rating_outside_1_to_5_or_oversize_text_is_refused(harness: Harness, shop, change):
    auth, review = shop
    buyer = await buyer_of(harness, auth, review, "ada@example.com", PRODUCT)

    refused = await review.client.post(REVIEWS, json={**opinion(), **change}, headers=buyer)

    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert await scalar(review, "SELECT count(*) FROM reviews") == 0


async def test_only_the_author_revises_or_deletes_a_review(harness: Harness, shop):
    auth, review = shop
    author = await buyer_of(harness, auth, review, "ada@example.com", PRODUCT)
    other = await buyer_of(harness, auth, review, "bob@example.com", PRODUCT)
    root = await admin(auth)
    written = (await review.client.post(REVIEWS, json=opinion(), headers=author)).json()
    path = f"{REVIEWS}/{written['id']}"

    for who in (other, root):
        assert (await review.client.patch(path, json={"rating": 1}, headers=who)).status_code == 404
        assert (await review.client.delete(path, headers=who)).status_code == 404
    assert (
        await review.client.patch(f"{REVIEWS}/{uuid.uuid4()}", json={}, headers=author)
    ).status_code == 404

    revised = await review.client.patch(
        path, json={"rating": 2, "body": "It broke."}, headers=author
    )
    assert revised.status_code == 200, revised.text
    assert (revised.json()["rating"], revised.json()["title"], revised.json()["body"]) == (
        2,
        "Good",
        "It broke.",
    )
    assert when(revised.json()) > when(written)
    nulled = await review.client.patch(path, json={"rating": None}, headers=author)
    assert nulled.status_code == 422, nulled.text

    deleted = await review.client.delete(path, headers=author)
    assert deleted.status_code == 204
    assert (await review.client.delete(path, headers=author)).status_code == 404
    listed = await review.client.get(REVIEWS, params={"product_id": PRODUCT})
    assert listed.json()["items"] == []
    types = "SELECT string_agg(type, ',' ORDER BY position) FROM outbox"
    assert await scalar(review, types) == "review.created,review.updated,review.deleted"


async def test_an_admin_hides_a_review_from_the_listing(harness: Harness, shop):
    auth, review = shop
    author = await buyer_of(harness, auth, review, "ada@example.com", PRODUCT)
    root = await admin(auth)
    written = (await review.client.post(REVIEWS, json=opinion(), headers=author)).json()
    hide = f"{REVIEWS}/{written['id']}/hide"

    assert (await review.client.post(hide, headers=author)).status_code == 403
    assert (
        await review.client.post(f"{REVIEWS}/{uuid.uuid4()}/hide", headers=root)
    ).status_code == 404
    hidden = await review.client.post(hide, headers=root)
    again = await review.client.post(hide, headers=root)

    assert hidden.status_code == 200, hidden.text
    assert hidden.json()["visible"] is False
    assert again.status_code == 200
    listed = await review.client.get(REVIEWS, params={"product_id": PRODUCT})
    assert listed.json()["items"] == []
    assert await scalar(review, "SELECT count(*) FROM outbox WHERE type = 'review.hidden'") == 1


async def test_the_listing_is_newest_first_and_paged(harness: Harness, shop):
    auth, review = shop
    ids = []
    for n in range(5):
        buyer = await buyer_of(harness, auth, review, f"c{n}@example.com", PRODUCT)
        made = await review.client.post(REVIEWS, json=opinion(rating=n + 1), headers=buyer)
        assert made.status_code == 201, made.text
        ids.append(made.json()["id"])

    seen, cursor = [], None
    while True:
        params = {"product_id": PRODUCT, "limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await review.client.get(REVIEWS, params=params)).json()
        seen += [r["id"] for r in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert seen == list(reversed(ids))
    other = await review.client.get(REVIEWS, params={"product_id": str(uuid.uuid4())})
    assert other.json()["items"] == []
    assert (await review.client.get(REVIEWS)).status_code == 422
    forged = await review.client.get(REVIEWS, params={"product_id": PRODUCT, "cursor": "nope"})
    assert forged.status_code == 422


async def test_orders_confirmed_while_review_was_down_are_not_lost(harness: Harness):
    auth = await harness.start("auth")
    ada = await customer(auth, "ada@example.com")
    settings = await harness.settings("review")
    # order keeps publishing while review is away; the durable consumer takes the backlog.
    await publish_events(
        harness, [order_event("order.confirmed", uuid.uuid4(), user_id(ada), [PRODUCT])]
    )

    review = await harness.serve("review", settings)

    assert await wait_for(review, "SELECT count(*) FROM purchases", 1) == 1
    written = await review.client.post(REVIEWS, json=opinion(), headers=ada)
    assert written.status_code == 201, written.text
