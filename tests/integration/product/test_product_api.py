"""product against real PostgreSQL, NATS and S3, with a real auth beside it."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.conftest import Harness
from tests.integration.accounts import admin, customer, scalar, wait_for

PRODUCTS = "/api/v1/products"
CATEGORIES = "/api/v1/categories"


def eur(amount: int) -> dict[str, object]:
    return {"amount": amount, "currency": "EUR"}


@pytest.fixture
async def shop(harness: Harness):
    auth = await harness.start("auth")
    product = await harness.start("product")
    return auth, product, await admin(auth)


async def create(product, headers, **fields) -> dict:
    body = {"sku": "SKU-1", "name": "Lamp", "price": eur(1999), **fields}
    created = await product.client.post(PRODUCTS, json=body, headers=headers)
    assert created.status_code == 201, created.text
    return created.json()


async def test_admins_create_update_and_deactivate_products(shop):
    _, product, root = shop
    kitchen = await product.client.post(
        CATEGORIES, json={"slug": "kitchen", "name": "Kitchen"}, headers=root
    )
    assert kitchen.status_code == 201, kitchen.text
    created = await create(
        product,
        root,
        sku="KET-01",
        name="Kettle",
        description="Boils water fast",
        category_id=kitchen.json()["id"],
        attributes={"colour": "red", "litres": 1.7},
    )
    assert created["price"] == eur(1999)
    assert created["category"] == {"id": kitchen.json()["id"], "slug": "kitchen", "name": "Kitchen"}
    assert created["rating"] == {"average": None, "count": 0}
    assert created["images"] == []
    assert created["active"] is True
    assert created["attributes"] == {"colour": "red", "litres": 1.7}

    patched = await product.client.patch(
        f"{PRODUCTS}/{created['id']}", json={"price": eur(2499), "category_id": None}, headers=root
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["price"] == eur(2499)
    assert patched.json()["category"] is None
    assert patched.json()["name"] == "Kettle"

    removed = await product.client.delete(f"{PRODUCTS}/{created['id']}", headers=root)
    assert removed.status_code == 204
    again = await product.client.delete(f"{PRODUCTS}/{created['id']}", headers=root)
    assert again.status_code == 204
    shown = await product.client.get(f"{PRODUCTS}/{created['id']}")
    assert shown.status_code == 200
    assert shown.json()["active"] is False
    assert (await product.client.get(PRODUCTS)).json()["items"] == []
    unknown = await product.client.get(f"{PRODUCTS}/{uuid.uuid4()}")
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == "application/problem+json"


async def test_customers_and_anonymous_callers_cannot_change_the_catalog(shop):
    auth, product, root = shop
    cust = await customer(auth)
    existing = await create(product, root)
    body = {"sku": "SKU-2", "name": "Chair", "price": eur(500)}
    for headers, expected in ((cust, 403), ({}, 401)):
        assert (await product.client.post(PRODUCTS, json=body, headers=headers)).status_code == (
            expected
        )
        assert (
            await product.client.patch(
                f"{PRODUCTS}/{existing['id']}", json={"name": "x"}, headers=headers
            )
        ).status_code == expected
        assert (
            await product.client.delete(f"{PRODUCTS}/{existing['id']}", headers=headers)
        ).status_code == expected
        assert (
            await product.client.post(CATEGORIES, json={"slug": "x", "name": "X"}, headers=headers)
        ).status_code == expected
        assert (
            await product.client.post(
                f"{PRODUCTS}/{existing['id']}/images",
                json={"content_type": "image/png", "size": 10},
                headers=headers,
            )
        ).status_code == expected
    # Reading stays public.
    assert (await product.client.get(f"{PRODUCTS}/{existing['id']}")).status_code == 200
    assert (await product.client.get(CATEGORIES)).status_code == 200


async def test_a_duplicate_sku_or_slug_is_a_conflict(shop):
    _, product, root = shop
    first = await create(product, root, sku="DUP-1")
    again = await product.client.post(
        PRODUCTS, json={"sku": "DUP-1", "name": "Other", "price": eur(100)}, headers=root
    )
    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"
    assert again.json()["product_id"] == first["id"]
    category = {"slug": "garden", "name": "Garden"}
    assert (await product.client.post(CATEGORIES, json=category, headers=root)).status_code == 201
    assert (await product.client.post(CATEGORIES, json=category, headers=root)).status_code == 409


@pytest.mark.parametrize(
    "price",
    [
        eur(0),
        eur(-100),
        {"amount": 10.5, "currency": "EUR"},
        {"amount": 100, "currency": "USD"},
        {"amount": 100, "currency": "euro"},
        {"amount": 100},
    ],
)
async def test_prices_must_be_positive_whole_minor_units_in_the_shop_currency(shop, price):
    _, product, root = shop
    refused = await product.client.post(
        PRODUCTS, json={"sku": "P-1", "name": "Thing", "price": price}, headers=root
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"]
    existing = await create(product, root, sku="P-2")
    patched = await product.client.patch(
        f"{PRODUCTS}/{existing['id']}", json={"price": price}, headers=root
    )
    assert patched.status_code == 422


async def test_invalid_product_bodies_are_refused(shop):
    _, product, root = shop
    for body in (
        {"sku": "has space", "name": "X", "price": eur(1)},
        {"sku": "OK-1", "name": "", "price": eur(1)},
        {"sku": "OK-1", "name": "X", "price": eur(1), "unknown": 1},
        {"sku": "OK-1", "name": "X", "price": eur(1), "category_id": str(uuid.uuid4())},
    ):
        refused = await product.client.post(PRODUCTS, json=body, headers=root)
        assert refused.status_code == 422, (body, refused.text)
    existing = await create(product, root)
    for change in ({"name": None}, {"sku": "NEW"}, {"active": None}):
        refused = await product.client.patch(
            f"{PRODUCTS}/{existing['id']}", json=change, headers=root
        )
        assert refused.status_code == 422, (change, refused.text)


async def test_each_change_publishes_one_event(shop):
    _, product, root = shop
    created = await create(product, root, sku="EV-1", name="Desk")
    url = f"{PRODUCTS}/{created['id']}"
    # A PATCH that changes nothing announces nothing.
    same = await product.client.patch(url, json={"name": "Desk", "price": eur(1999)}, headers=root)
    assert same.status_code == 200
    await product.client.patch(url, json={"name": "Standing desk"}, headers=root)
    await product.client.delete(url, headers=root)
    await product.client.delete(url, headers=root)
    await product.client.patch(url, json={"active": True}, headers=root)
    await product.client.patch(url, json={"active": False}, headers=root)

    types = await scalar(product, "SELECT array_agg(type ORDER BY position) FROM outbox")
    assert types == [
        "product.created",
        "product.updated",
        "product.deactivated",
        "product.updated",
        "product.deactivated",
    ]
    data = await scalar(
        product, "SELECT envelope->'data' FROM outbox WHERE type = 'product.updated' LIMIT 1"
    )
    assert data == {
        "product_id": created["id"],
        "sku": "EV-1",
        "name": "Standing desk",
        "price": eur(1999),
        "active": True,
    }
    # The relay publishes every one of them.
    unpublished = await wait_for(
        product, "SELECT count(*) FROM outbox WHERE published_at IS NULL", 0
    )
    assert unpublished == 0


async def test_image_upload_through_a_presigned_url(shop):
    _, product, root = shop
    created = await create(product, root)
    url = f"{PRODUCTS}/{created['id']}/images"
    picture = b"\x89PNG\r\n\x1a\n" + bytes(range(200))

    too_big = await product.client.post(
        url, json={"content_type": "image/png", "size": 50_000_000}, headers=root
    )
    assert too_big.status_code == 422
    wrong_type = await product.client.post(
        url, json={"content_type": "text/html", "size": 10}, headers=root
    )
    assert wrong_type.status_code == 422
    missing = await product.client.post(
        f"{PRODUCTS}/{uuid.uuid4()}/images",
        json={"content_type": "image/png", "size": 10},
        headers=root,
    )
    assert missing.status_code == 404

    grant = await product.client.post(
        url, json={"content_type": "image/png", "size": len(picture)}, headers=root
    )
    assert grant.status_code == 200, grant.text
    upload = grant.json()
    # Not listed before the object exists.
    assert (await product.client.get(f"{PRODUCTS}/{created['id']}")).json()["images"] == []
    async with httpx.AsyncClient() as s3:
        refused = await s3.put(
            upload["upload_url"], content=picture + b"more", headers={"Content-Type": "image/png"}
        )
        assert refused.status_code == 403
        stored = await s3.put(upload["upload_url"], content=picture, headers=upload["headers"])
        assert stored.status_code == 200, stored.text

        shown = (await product.client.get(f"{PRODUCTS}/{created['id']}")).json()
        assert [i["id"] for i in shown["images"]] == [upload["image_id"]]
        assert shown["images"][0]["content_type"] == "image/png"
        downloaded = await s3.get(shown["images"][0]["url"])
        assert downloaded.status_code == 200
        assert downloaded.content == picture

        # The listing shows uploaded images too, under the same (reused) URL.
        listed = (await product.client.get(PRODUCTS)).json()["items"]
        assert listed[0]["images"] == shown["images"]
