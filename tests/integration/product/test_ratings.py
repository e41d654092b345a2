"""The rating aggregate follows review events: idempotent and insensitive to their order."""

from __future__ import annotations

import uuid

from tests.conftest import Harness
from tests.integration.accounts import admin, envelope, publish_events, scalar, wait_for

PRODUCTS = "/api/v1/products"


def review(event_type, review_id, product_id, rating, when, *, visible=True, event_id=None):
    return envelope(
        event_type,
        {
            "review_id": str(review_id),
            "product_id": str(product_id),
            "rating": rating,
            "visible": visible,
            "updated_at": f"2026-11-26T10:00:0{when}+00:00",
        },
        event_id=event_id,
    )


async def rating_after(harness, product, product_id, envelopes, *, handled: int) -> dict:
    """Publishes the events, waits until the inbox holds ``handled`` of them, reads the rating."""
    await publish_events(harness, envelopes)
    assert await wait_for(product, "SELECT count(*) FROM inbox", handled) == handled
    shown = await product.client.get(f"{PRODUCTS}/{product_id}")
    return shown.json()["rating"]


async def test_rating_aggregate_from_review_events(harness: Harness):
    auth = await harness.start("auth")
    product = await harness.start("product")
    root = await admin(auth)
    made = await product.client.post(
        PRODUCTS,
        json={"sku": "R-1", "name": "Rated", "price": {"amount": 100, "currency": "EUR"}},
        headers=root,
    )
    pid = made.json()["id"]
    a, b, c = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()

    created_a = review("review.created", a, pid, 5, 1)
    rating = await rating_after(
        harness,
        product,
        pid,
        [created_a, review("review.created", b, pid, 2, 1), review("review.created", c, pid, 4, 1)],
        handled=3,
    )
    assert rating == {"average": round(11 / 3, 2), "count": 3}

    # The same event redelivered (same event id) and a copy under a new id: nothing twice.
    copy = {**created_a, "id": str(uuid.uuid4())}
    rating = await rating_after(harness, product, pid, [created_a, copy], handled=4)
    assert rating == {"average": round(11 / 3, 2), "count": 3}

    # Out of order: a's newest state (rating 1 at t3) arrives before an older one (4 at t2).
    rating = await rating_after(
        harness,
        product,
        pid,
        [review("review.updated", a, pid, 1, 3), review("review.updated", a, pid, 4, 2)],
        handled=6,
    )
    assert rating == {"average": round(7 / 3, 2), "count": 3}

    # Hiding takes b out of the average; a late "created" of b changes nothing.
    rating = await rating_after(
        harness,
        product,
        pid,
        [
            review("review.hidden", b, pid, 2, 4, visible=False),
            review("review.created", b, pid, 2, 1),
        ],
        handled=8,
    )
    assert rating == {"average": 2.5, "count": 2}

    # A deletion is final, even against a state that claims to be newer.
    rating = await rating_after(
        harness,
        product,
        pid,
        [review("review.deleted", c, pid, 4, 5), review("review.updated", c, pid, 5, 9)],
        handled=10,
    )
    assert rating == {"average": 1.0, "count": 1}

    # A review of an unknown product is absorbed; a malformed event is refused before the
    # handler and kept as a dead letter: neither is retried forever.
    malformed = envelope("review.created", {"review_id": "nope"})
    rating = await rating_after(
        harness,
        product,
        pid,
        [review("review.created", uuid.uuid4(), uuid.uuid4(), 3, 1), malformed],
        handled=11,
    )
    assert rating == {"average": 1.0, "count": 1}
    kept = "SELECT count(*) FROM dead_letters WHERE event_id = :id AND type = 'review.created'"
    assert await wait_for(product, kept, 1, id=malformed["id"]) == 1
    assert (
        await scalar(product, "SELECT count(*) FROM inbox WHERE event_id = :id", id=malformed["id"])
        == 0
    )
