"""The public product listing: full-text search, filters, orders and cursor pages."""

from __future__ import annotations

import pytest

from tests.conftest import Harness
from tests.integration.accounts import admin

PRODUCTS = "/api/v1/products"
CATEGORIES = "/api/v1/categories"

# sku, name, description, price (cents), category slug
CATALOG = [
    ("LMP-1", "Desk lamp", "A small lamp for the desk", 2500, "lighting"),
    ("LMP-2", "Floor lamp", "Tall and bright", 8900, "lighting"),
    ("BLB-1", "LED bulb", "Fits any lamp; warm white", 499, "lighting"),
    ("CHR-1", "Oak chair", "Solid oak", 12000, "furniture"),
    ("TBL-1", "Oak table", "Seats six", 45000, "furniture"),
    ("MUG-1", "Coffee mug", "Stoneware", 900, "kitchen"),
    ("KET-1", "Kettle", "Boils water; no lamp included", 3900, "kitchen"),
]


@pytest.fixture
async def listing(harness: Harness):
    auth = await harness.start("auth")
    product = await harness.start("product")
    root = await admin(auth)
    categories = {}
    for slug in ("lighting", "furniture", "kitchen"):
        made = await product.client.post(
            CATEGORIES, json={"slug": slug, "name": slug.title()}, headers=root
        )
        categories[slug] = made.json()["id"]
    products = {}
    for sku, name, description, price, slug in CATALOG:
        made = await product.client.post(
            PRODUCTS,
            json={
                "sku": sku,
                "name": name,
                "description": description,
                "price": {"amount": price, "currency": "EUR"},
                "category_id": categories[slug],
            },
            headers=root,
        )
        assert made.status_code == 201, made.text
        products[sku] = made.json()["id"]
    hidden = await product.client.post(
        PRODUCTS,
        json={"sku": "OLD-1", "name": "Old lamp", "price": {"amount": 100, "currency": "EUR"}},
        headers=root,
    )
    await product.client.delete(f"{PRODUCTS}/{hidden.json()['id']}", headers=root)
    return product, categories, products


async def skus(product, **params) -> list[str]:
    """Every SKU of a listing, walking its pages two at a time."""
    found: list[str] = []
    cursor = None
    for _ in range(20):
        query = {**params, "limit": 2, **({"cursor": cursor} if cursor else {})}
        page = await product.client.get(PRODUCTS, params=query)
        assert page.status_code == 200, page.text
        found += [item["sku"] for item in page.json()["items"]]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return found
    raise AssertionError("the listing never ended")


async def test_full_text_search_ranks_the_name_above_the_description(listing):
    product, _, _ = listing
    found = await skus(product, q="lamp")
    # Names first (both weighted A), then descriptions; the inactive "Old lamp" never.
    assert set(found[:2]) == {"LMP-1", "LMP-2"}
    assert set(found[2:]) == {"BLB-1", "KET-1"}
    assert await skus(product, q="lamps") == found  # stemming
    assert await skus(product, q="oak -table") == ["CHR-1"]  # web search syntax
    assert await skus(product, q='"floor lamp"') == ["LMP-2"]
    assert await skus(product, q="zeppelin") == []


async def test_listing_orders(listing):
    product, _, _ = listing
    by_price = sorted(CATALOG, key=lambda p: p[3])
    assert await skus(product, sort="price_asc") == [p[0] for p in by_price]
    assert await skus(product, sort="price_desc") == [p[0] for p in reversed(by_price)]
    assert await skus(product, sort="name") == [p[0] for p in sorted(CATALOG, key=lambda p: p[1])]
    newest = [p[0] for p in reversed(CATALOG)]
    assert await skus(product) == newest
    assert await skus(product, sort="newest") == newest
    # Relevance without a search falls back to newest.
    assert await skus(product, sort="relevance") == newest
    assert await skus(product, q="lamp", sort="price_asc") == ["BLB-1", "LMP-1", "KET-1", "LMP-2"]


async def test_category_and_price_filters(listing):
    product, categories, _ = listing
    assert await skus(product, category="furniture", sort="price_asc") == ["CHR-1", "TBL-1"]
    assert await skus(product, category=categories["kitchen"], sort="name") == ["MUG-1", "KET-1"]
    assert await skus(product, category="no-such-shelf") == []
    assert await skus(product, min_price=900, max_price=3900, sort="price_asc") == [
        "MUG-1",
        "LMP-1",
        "KET-1",
    ]
    assert await skus(product, category="lighting", max_price=2500, q="lamp") == ["LMP-1", "BLB-1"]


async def test_bad_listing_parameters_are_refused(listing):
    product, _, _ = listing
    first = (await product.client.get(PRODUCTS, params={"sort": "price_asc", "limit": 2})).json()
    assert first["next_cursor"]
    for params in (
        {"sort": "name", "cursor": first["next_cursor"]},  # a cursor of another order
        {"cursor": "garbage!"},
        {"sort": "cheapest"},
        {"min_price": -1},
        {"min_price": 500, "max_price": 100},
        {"limit": 0},
        {"limit": 101},
    ):
        refused = await product.client.get(PRODUCTS, params=params)
        assert refused.status_code == 422, (params, refused.text)
        assert refused.headers["content-type"] == "application/problem+json"


async def test_categories_are_listed_by_slug_in_pages(listing):
    product, categories, _ = listing
    first = (await product.client.get(CATEGORIES, params={"limit": 2})).json()
    second = (
        await product.client.get(CATEGORIES, params={"limit": 2, "cursor": first["next_cursor"]})
    ).json()
    assert [c["slug"] for c in first["items"] + second["items"]] == sorted(categories)
    assert second["next_cursor"] is None
