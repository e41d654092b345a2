"""The seed's demo order and reviews through the whole shop: ratings shown, loaded once."""

from __future__ import annotations

import httpx

from mercato.runner import demo_reviews, seed
from tests.conftest import Harness
from tests.integration.accounts import scalar
from tests.integration.review.buyers import eventually

ADMIN_PASSWORD = "seed-admin-password-for-tests"
SHOP = ("auth", "product", "inventory", "payment", "order", "review", "gateway")


async def test_the_demo_customer_reviews_what_they_bought_once(harness: Harness):
    running = {name: await harness.start(name) for name in SHOP}
    await running["auth"].app.state.accounts.create_admin(
        email=seed.SEED_ADMIN_EMAIL, password=ADMIN_PASSWORD
    )

    async def run() -> seed.SeedReport:
        return await seed.seed_catalog(
            running["gateway"].url,
            admin_email=seed.SEED_ADMIN_EMAIL,
            admin_password=ADMIN_PASSWORD,
            reviews=True,
        )

    first = await run()
    assert first.demo_order_placed
    assert first.reviews_written == len(demo_reviews.DEMO_REVIEWS)

    second = await run()
    assert not second.changed_anything, second
    assert await scalar(running["order"], "SELECT count(*) FROM orders") == 1
    assert await scalar(running["review"], "SELECT count(*) FROM reviews") == 3

    async with httpx.AsyncClient(base_url=running["gateway"].url, timeout=30) as client:

        async def ratings() -> dict[str, dict]:
            listed = await client.get("/api/v1/products", params={"limit": 100})
            return {p["sku"]: {**p["rating"], "id": p["id"]} for p in listed.json()["items"]}

        expected = {
            sku: {"average": float(stars), "count": 1}
            for sku, (stars, _, _) in demo_reviews.DEMO_REVIEWS.items()
        }

        def shown(found: dict[str, dict]) -> dict[str, dict]:
            return {s: {k: found[s][k] for k in ("average", "count")} for s in expected}

        # product learns of the reviews from their events: poll until it has.
        found = await eventually(ratings, lambda r: shown(r) == expected, seconds=30)
        assert shown(found) == expected
        for sku, (stars, _, _) in demo_reviews.DEMO_REVIEWS.items():
            listed = await client.get("/api/v1/reviews", params={"product_id": found[sku]["id"]})
            assert [r["rating"] for r in listed.json()["items"]] == [stars]
