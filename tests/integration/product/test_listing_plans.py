"""The listing's queries are served by the indexes the model declares (EXPLAIN on real rows)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ClauseElement, Executable

from mercato.services.product.repository import Listing, listing_statement
from mercato.services.product.schemas import ProductSort
from tests.conftest import Harness

ROWS = 20_000
CATEGORIES = 20


class Explain(Executable, ClauseElement):
    """``EXPLAIN (FORMAT JSON)`` of a statement, with its parameters bound as usual."""

    inherit_cache = False

    def __init__(self, statement: Any) -> None:
        self.statement = statement


@compiles(Explain, "postgresql")
def _explain(element: Explain, compiler: Any, **kw: Any) -> str:
    return "EXPLAIN (FORMAT JSON) " + compiler.process(element.statement, **kw)


def nodes(plan: dict[str, Any], *, subplans: bool = True) -> list[dict[str, Any]]:
    """Every node of a plan tree (without the per-row subplans unless ``subplans``)."""
    found = [plan]
    for child in plan.get("Plans", []):
        if subplans or child.get("Parent Relationship") != "SubPlan":
            found += nodes(child, subplans=subplans)
    return found


@pytest.fixture(scope="module")
def category_ids() -> list[uuid.UUID]:
    return [uuid.uuid4() for _ in range(CATEGORIES)]


@pytest.fixture
async def database(harness: Harness, category_ids):
    # The 20,000 rows take a while on a busy machine: beyond the usual statement bound.
    product = await harness.start("product", db_command_timeout_seconds=60)
    database = product.app.state.platform.database
    async with database.sessionmaker() as session, session.begin():
        for i, category_id in enumerate(category_ids):
            await session.execute(
                text(
                    "INSERT INTO categories (id, slug, name, created_at) "
                    "VALUES (:id, :slug, :name, now())"
                ),
                {"id": category_id, "slug": f"shelf-{i}", "name": f"Shelf {i}"},
            )
        # Every 1000th product is a "zircon" one: a rare word, as most searched words are.
        await session.execute(
            text(
                "INSERT INTO products (id, sku, name, description, price_amount, currency, "
                "category_id, attributes, active, created_at, updated_at) "
                "SELECT gen_random_uuid(), 'SKU-' || i, "
                "CASE WHEN i % 1000 = 0 THEN 'Zircon ring ' ELSE 'Plain item ' END || i, "
                "'Description of item ' || i, 100 + (i * 7919) % 100000, 'EUR', "
                "(CAST(:categories AS uuid[]))[1 + i % :count], '{}'::jsonb, i % 10 <> 0, "
                "now() - i * interval '1 second', now() "
                "FROM generate_series(1, :rows) AS i"
            ),
            {"categories": category_ids, "count": CATEGORIES, "rows": ROWS},
        )
    async with database.engine.begin() as conn:
        await conn.execute(text("ANALYZE products"))
        await conn.execute(text("ANALYZE categories"))
    return database


async def plan_of(
    database, listing: Listing, after: list[Any] | None = None, *, subplans: bool = True
) -> list[dict]:
    statement = listing_statement(listing, limit=21, after=after)
    async with database.engine.connect() as conn:
        explained = (await conn.execute(Explain(statement))).scalar_one()
    return nodes(explained[0]["Plan"], subplans=subplans)


def index_used(plan: list[dict]) -> set[str]:
    return {n["Index Name"] for n in plan if "Index Name" in n}


def sorted_in_memory(plan: list[dict]) -> bool:
    return any(n["Node Type"] in ("Sort", "Incremental Sort") for n in plan)


def cases(category_id: uuid.UUID) -> list[tuple[str, Listing, list[Any] | None, str]]:
    """(what, listing, keyset after, the index that must serve it) for every listing order."""
    some_id = uuid.uuid4()
    now = datetime.now(UTC)
    return [
        ("newest", Listing(sort=ProductSort.newest), None, "ix_products_created_at_id"),
        (
            "newest, next page",
            Listing(sort=ProductSort.newest),
            [now, some_id],
            "ix_products_created_at_id",
        ),
        ("cheapest", Listing(sort=ProductSort.price_asc), None, "ix_products_price_amount_id"),
        (
            "cheapest, next page",
            Listing(sort=ProductSort.price_asc),
            [5000, some_id],
            "ix_products_price_amount_id",
        ),
        (
            "dearest, next page",
            Listing(sort=ProductSort.price_desc),
            [5000, some_id],
            "ix_products_price_amount_id",
        ),
        (
            "by name, next page",
            Listing(sort=ProductSort.name),
            ["Plain item 5", some_id],
            "ix_products_name_id",
        ),
        (
            "a price range, cheapest first",
            Listing(sort=ProductSort.price_asc, min_price=20_000, max_price=30_000),
            None,
            "ix_products_price_amount_id",
        ),
        (
            "a category, newest",
            Listing(sort=ProductSort.newest, category_id=category_id),
            None,
            "ix_products_category_created_at_id",
        ),
        (
            "a category, cheapest, next page",
            Listing(sort=ProductSort.price_asc, category_id=category_id),
            [5000, some_id],
            "ix_products_category_price_amount_id",
        ),
        (
            "a category by slug, cheapest",
            Listing(sort=ProductSort.price_asc, category_slug="shelf-3"),
            None,
            "ix_products_category_price_amount_id",
        ),
        (
            "a category, by name",
            Listing(sort=ProductSort.name, category_id=category_id),
            None,
            "ix_products_category_name_id",
        ),
    ]


async def test_every_order_is_an_index_scan_without_sorting(database, category_ids):
    # The listing's rows, that is: each row's pictures are a subplan of their own,
    # gathered (and put in order, a product has a handful) through the product_id index.
    wrong = []
    for what, listing, after, index in cases(category_ids[3]):
        plan = await plan_of(database, listing, after, subplans=False)
        if index not in index_used(plan) or sorted_in_memory(plan):
            wrong.append((what, [(n["Node Type"], n.get("Index Name")) for n in plan]))
    assert wrong == []


async def test_the_pictures_of_each_listed_product_are_read_through_their_index(database):
    plan = await plan_of(database, Listing(sort=ProductSort.newest))
    pictures = [n for n in plan if n.get("Relation Name") == "product_images"]
    assert pictures
    assert all(n.get("Index Name") == "ix_product_images_product_id" for n in pictures), pictures


async def test_full_text_search_uses_the_gin_index(database):
    plan = await plan_of(database, Listing(sort=ProductSort.relevance, q="zircon"))
    scans = [n for n in plan if n.get("Index Name") == "ix_products_search"]
    assert scans, plan
    assert scans[0]["Node Type"] == "Bitmap Index Scan"
    assert not any(n["Node Type"] == "Seq Scan" and n["Relation Name"] == "products" for n in plan)
