"""The demo data through a real gateway, auth, product and inventory: loaded once, idempotent."""

from __future__ import annotations

import struct
import zlib

import httpx
from sqlalchemy import text

from mercato.runner import seed
from tests.conftest import Harness
from tests.integration.accounts import scalar

ADMIN_PASSWORD = "seed-admin-password-for-tests"


def test_pictures_are_valid_pngs_and_differ():
    pictures = [seed.product_picture(i, size=48) for i in range(len(seed.PRODUCTS))]
    assert len(set(pictures)) == len(pictures)
    for picture in pictures[:6]:
        assert picture.startswith(b"\x89PNG\r\n\x1a\n")
        width, height, depth, colour = struct.unpack(">IIBB", picture[16:26])
        assert (width, height, depth, colour) == (48, 48, 8, 2)
        # Decompresses to one filter byte plus three bytes per pixel, row by row.
        idat = picture[picture.index(b"IDAT") + 4 : picture.index(b"IEND") - 8]
        assert len(zlib.decompress(idat)) == 48 * (1 + 48 * 3)


async def test_seeding_twice_loads_the_demo_data_once(harness: Harness):
    auth = await harness.start("auth")
    product = await harness.start("product")
    inventory = await harness.start("inventory")
    gateway = await harness.start("gateway")
    created_admins = []

    async def create_admin() -> None:
        created_admins.append(seed.SEED_ADMIN_EMAIL)
        await auth.app.state.accounts.create_admin(
            email=seed.SEED_ADMIN_EMAIL, password=ADMIN_PASSWORD
        )

    async def run() -> seed.SeedReport:
        return await seed.seed_catalog(
            gateway.url,
            admin_email=seed.SEED_ADMIN_EMAIL,
            admin_password=ADMIN_PASSWORD,
            create_admin=create_admin,
        )

    first = await run()
    assert first.categories_created == len(seed.CATEGORIES)
    assert first.products_created == len(seed.PRODUCTS)
    assert first.images_uploaded == len(seed.PRODUCTS)
    assert first.skus_stocked == len(seed.PRODUCTS)
    assert first.customer_created
    assert created_admins == [seed.SEED_ADMIN_EMAIL]

    events = await scalar(product, "SELECT count(*) FROM outbox")
    adjustments = await scalar(inventory, "SELECT count(*) FROM stock_adjustments")
    second = await run()
    assert not second.changed_anything, second
    assert second.products_existing == len(seed.PRODUCTS)
    assert second.categories_existing == len(seed.CATEGORIES)
    assert created_admins == [seed.SEED_ADMIN_EMAIL]  # logged in with the existing one
    assert await scalar(product, "SELECT count(*) FROM products") == len(seed.PRODUCTS)
    assert await scalar(product, "SELECT count(*) FROM product_images") == len(seed.PRODUCTS)
    assert await scalar(product, "SELECT count(*) FROM outbox") == events == len(seed.PRODUCTS)
    assert await scalar(inventory, "SELECT count(*) FROM stock_adjustments") == adjustments

    async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as client:
        listed = await client.get("/api/v1/products", params={"limit": 100})
        items = listed.json()["items"]
        assert {i["sku"] for i in items} == {p.sku for p in seed.PRODUCTS}
        kettle = next(i for i in items if i["sku"] == "KIT-KETTLE")
        assert kettle["category"]["slug"] == "kitchen"
        picture = await client.get(kettle["images"][0]["url"])
        assert picture.status_code == 200
        assert picture.content == seed.product_picture(0)
        stock = await client.get("/api/v1/inventory/KIT-KETTLE")
        assert stock.json() == {"sku": "KIT-KETTLE", "available": 40}
        searched = await client.get("/api/v1/products", params={"q": "oak"})
        assert {i["sku"] for i in searched.json()["items"]} == {
            "KIT-BOARD",
            "FUR-CHAIR",
            "FUR-TABLE",
        }
        login = await client.post(
            "/api/v1/auth/login",
            json={"email": seed.DEMO_CUSTOMER_EMAIL, "password": seed.DEMO_CUSTOMER_PASSWORD},
        )
        assert login.status_code == 200


async def test_a_sold_out_demo_product_is_restocked_and_nothing_else(harness: Harness):
    auth = await harness.start("auth")
    await harness.start("product")
    inventory = await harness.start("inventory")
    gateway = await harness.start("gateway")
    await auth.app.state.accounts.create_admin(email=seed.SEED_ADMIN_EMAIL, password=ADMIN_PASSWORD)

    async def run() -> seed.SeedReport:
        return await seed.seed_catalog(
            gateway.url, admin_email=seed.SEED_ADMIN_EMAIL, admin_password=ADMIN_PASSWORD
        )

    await run()
    async with inventory.app.state.platform.database.sessionmaker() as session, session.begin():
        await session.execute(text("UPDATE stock SET on_hand = 0 WHERE sku = 'STA-CLIPS'"))
        await session.execute(text("UPDATE stock SET on_hand = 1 WHERE sku = 'FUR-SOFA'"))
    again = await run()
    assert again.skus_stocked == 1
    assert await scalar(inventory, "SELECT on_hand FROM stock WHERE sku = 'STA-CLIPS'") == 4
    assert await scalar(inventory, "SELECT on_hand FROM stock WHERE sku = 'FUR-SOFA'") == 1
