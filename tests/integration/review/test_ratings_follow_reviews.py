"""product's rating follows the reviews: both services on real NATS, events end to end."""

from __future__ import annotations

from tests.conftest import Harness
from tests.integration.accounts import admin, wait_for
from tests.integration.review.buyers import REVIEWS, buyer_of, eventually

PRODUCTS = "/api/v1/products"


async def test_the_product_rating_follows_created_updated_hidden_and_deleted_reviews(
    harness: Harness,
):
    auth = await harness.start("auth")
    product = await harness.start("product")
    review = await harness.start("review")
    root = await admin(auth)
    made = await product.client.post(
        PRODUCTS,
        json={"sku": "RATED-1", "name": "Rated", "price": {"amount": 900, "currency": "EUR"}},
        headers=root,
    )
    assert made.status_code == 201, made.text
    pid = made.json()["id"]
    ada = await buyer_of(harness, auth, review, "ada@example.com", pid)
    bob = await buyer_of(harness, auth, review, "bob@example.com", pid)
    eve = await buyer_of(harness, auth, review, "eve@example.com", pid)

    async def rating() -> dict:
        return (await product.client.get(f"{PRODUCTS}/{pid}")).json()["rating"]

    async def rating_becomes(expected: dict) -> dict:
        return await eventually(rating, lambda r: r == expected)

    def write(who, stars):
        body = {"product_id": pid, "rating": stars, "title": f"{stars} stars"}
        return review.client.post(REVIEWS, json=body, headers=who)

    by_ada = (await write(ada, 5)).json()
    assert await rating_becomes({"average": 5.0, "count": 1}) == {"average": 5.0, "count": 1}
    by_bob = (await write(bob, 3)).json()
    by_eve = (await write(eve, 1)).json()
    assert await rating_becomes({"average": 3.0, "count": 3}) == {"average": 3.0, "count": 3}

    # Ada changes her mind: the average moves.
    revised = await review.client.patch(
        f"{REVIEWS}/{by_ada['id']}", json={"rating": 2}, headers=ada
    )
    assert revised.status_code == 200, revised.text
    assert await rating_becomes({"average": 2.0, "count": 3}) == {"average": 2.0, "count": 3}

    # A moderator hides Eve's review: it leaves the average.
    hidden = await review.client.post(f"{REVIEWS}/{by_eve['id']}/hide", headers=root)
    assert hidden.status_code == 200, hidden.text
    assert await rating_becomes({"average": 2.5, "count": 2}) == {"average": 2.5, "count": 2}

    # Bob deletes his: it leaves too, and editing a hidden review does not bring it back.
    assert (await review.client.delete(f"{REVIEWS}/{by_bob['id']}", headers=bob)).status_code == 204
    edited = await review.client.patch(f"{REVIEWS}/{by_eve['id']}", json={"rating": 5}, headers=eve)
    assert edited.status_code == 200, edited.text
    assert edited.json()["visible"] is False
    assert await rating_becomes({"average": 2.0, "count": 1}) == {"average": 2.0, "count": 1}
    relayed = "SELECT count(*) FROM outbox WHERE published_at IS NULL"
    assert await wait_for(review, relayed, 0) == 0
    assert await wait_for(product, "SELECT count(*) FROM inbox", 7) == 7
    assert await rating() == {"average": 2.0, "count": 1}
