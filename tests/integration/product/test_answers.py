"""The catalog's hot reads write exactly what the documented schema's own serialiser would.

Product by id and the listing build their JSON from plain rows, without pydantic models
(ADR 0037); these pin their bytes to pydantic's serialisation of ``ProductPublic`` and
their meaning to the answer the ORM path gives for the same product.
"""

from __future__ import annotations

import httpx
import pytest
from pydantic import TypeAdapter
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from mercato.contracts.product import ProductPublic
from mercato.platform.pagination import Page
from tests.conftest import Harness
from tests.integration.accounts import admin

PRODUCTS = "/api/v1/products"
PRODUCT = TypeAdapter(ProductPublic)
PAGE = TypeAdapter(Page[ProductPublic])


@pytest.fixture
async def shop(harness: Harness):
    auth = await harness.start("auth")
    product = await harness.start("product")
    return product, await admin(auth)


async def uploaded_product(product, root) -> dict:
    """A product on a shelf, with attributes, a rating and one uploaded picture."""
    shelf = await product.client.post(
        "/api/v1/categories", json={"slug": "lamps", "name": "Lamps"}, headers=root
    )
    created = await product.client.post(
        PRODUCTS,
        json={
            "sku": "LAMP-1",
            "name": "Lamp",
            "description": "Bright, \u00e9l\u00e9gante",
            "price": {"amount": 1999, "currency": "EUR"},
            "category_id": shelf.json()["id"],
            "attributes": {"colour": "red", "watts": 7.5, "sizes": [1, 2], "dim": {"x": None}},
        },
        headers=root,
    )
    assert created.status_code == 201, created.text
    product_id = created.json()["id"]
    grant = (
        await product.client.post(
            f"{PRODUCTS}/{product_id}/images",
            json={"content_type": "image/png", "size": 4},
            headers=root,
        )
    ).json()
    async with httpx.AsyncClient() as s3:
        stored = await s3.put(grant["upload_url"], content=b"\x89PNG", headers=grant["headers"])
        assert stored.status_code == 200, stored.text
    # Taken in by the first read (the ORM path), then the picture is ready.
    assert len((await product.client.get(f"{PRODUCTS}/{product_id}")).json()["images"]) == 1
    async with product.app.state.platform.database.engine.begin() as conn:
        await conn.execute(
            text("UPDATE products SET rating_count = 3, rating_sum = 13 WHERE id = :id"),
            {"id": product_id},
        )
    return created.json()


async def test_product_by_id_is_the_schemas_own_json_and_the_orm_paths_answer(shop):
    product, root = shop
    created = await uploaded_product(product, root)
    url = f"{PRODUCTS}/{created['id']}"

    shown = await product.client.get(url)
    assert shown.status_code == 200
    assert shown.headers["content-type"] == "application/json"
    assert shown.content == PRODUCT.dump_json(PRODUCT.validate_json(shown.content))
    # The write path answers through pydantic from the ORM entity: the same product.
    patched = await product.client.patch(url, json={"name": "Lamp"}, headers=root)
    assert patched.status_code == 200
    assert shown.json() == patched.json()
    assert shown.json()["rating"] == {"average": 4.33, "count": 3}
    assert shown.json()["category"]["slug"] == "lamps"
    assert shown.json()["images"][0]["content_type"] == "image/png"


async def test_a_listing_page_is_the_schemas_own_json(shop):
    product, root = shop
    created = await uploaded_product(product, root)
    for n in range(3):
        await product.client.post(
            PRODUCTS,
            json={
                "sku": f"S-{n}",
                "name": f"Spare {n}",
                "price": {"amount": 100 + n, "currency": "EUR"},
            },
            headers=root,
        )

    page = await product.client.get(PRODUCTS, params={"limit": 2, "sort": "price_desc"})
    assert page.status_code == 200
    assert page.headers["content-type"] == "application/json"
    assert page.content == PAGE.dump_json(PAGE.validate_json(page.content))
    items = page.json()["items"]
    assert items[0] == (await product.client.get(f"{PRODUCTS}/{created['id']}")).json()
    assert page.json()["next_cursor"]


async def test_a_picture_upload_in_flight_leaves_the_answer_as_it_was(shop):
    product, root = shop
    created = await uploaded_product(product, root)
    url = f"{PRODUCTS}/{created['id']}"
    before = (await product.client.get(url)).json()
    pending = await product.client.post(
        f"{url}/images", json={"content_type": "image/png", "size": 4}, headers=root
    )
    assert pending.status_code == 200

    during = await product.client.get(url)
    assert during.content == PRODUCT.dump_json(PRODUCT.validate_json(during.content))
    assert during.json() == before


async def test_reads_and_writes_after_the_database_dropped_every_connection_succeed(shop):
    product, root = shop
    created = await uploaded_product(product, root)
    url = f"{PRODUCTS}/{created['id']}"
    assert (await product.client.get(url)).status_code == 200
    assert (await product.client.get(PRODUCTS)).status_code == 200
    database = product.app.state.platform.database
    # What a PostgreSQL restart does to the pool: every backend goes, the service stays.
    async with database.engine.connect() as conn:
        others = (
            await conn.execute(
                text(
                    "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 5000)) "
                    "FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
        ).scalar_one()
        with pytest.raises(DBAPIError):  # and this one, last
            await conn.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))
    assert others >= 1

    assert (await product.client.get(url)).status_code == 200
    assert (await product.client.get(PRODUCTS)).status_code == 200
    renamed = await product.client.patch(url, json={"name": "Lamp 2"}, headers=root)
    assert renamed.status_code == 200, renamed.text
