r"""Catalog browse: a filtered product list and a product by id, through the gateway.

A shopper's two commonest requests, on a catalog of realistic size: 5,000 products in 20
categories, each with one uploaded picture (so every product in an answer carries a
presigned picture URL). product, auth and the gateway run as real processes
(``python -m mercato.platform.server``) on PostgreSQL, NATS and S3 started by the
runner's launchers, product's database migrated as the runner does it; the gateway's
rate limit is off (one load generator is one client). Beside them, in the same rounds,
the gateway's own pass-through figure (auth's in-memory ``jwks.json``, as in
``bench/gateway_passthrough.py``) and the two product routes called directly, so the
gateway's share is visible. wrk loads every variant at several concurrencies,
interleaved, several rounds; the table quotes medians.

Run (wrk comes from Debian: apt-get update && apt-get install -y wrk):

    .venv/bin/python bench/catalog_browse.py --duration 10 --rounds 3 \
        --concurrency 1,8,32 --json
"""

from __future__ import annotations

import argparse
import asyncio
import uuid

import asyncpg
from sqlalchemy.engine import make_url

from _common import (
    Processes,
    Series,
    interleaved,
    machine_state,
    main_guard,
    print_table,
    progress,
    require,
    run_wrk,
    wait_http,
    write_results,
)
from _platform import start_platform

PRODUCTS = 5_000
CATEGORIES = 20
LIST_QUERY = "/api/v1/products?category=shelf-3&sort=price_asc&limit=20"
PASSTHROUGH = "/api/v1/auth/jwks.json"
VARIANTS = ("list", "product", "list-direct", "product-direct", "passthrough")


def main() -> int:
    """Starts the platform, loads the catalog, runs the variants and prints the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="runs of every variant")
    parser.add_argument(
        "--concurrency", default="1,8,32", help="comma-separated wrk connection counts"
    )
    parser.add_argument("--json", action="store_true", help="also write bench/results/*.json")
    args = parser.parse_args()
    concurrencies = [int(c) for c in args.concurrency.split(",")]
    require("wrk")

    variants = [f"{v}@{c}" for c in concurrencies for v in VARIANTS]
    series = {variant: Series() for variant in variants}
    with Processes() as processes:
        platform = start_platform(processes, ("auth", "product", "gateway"))
        children, urls = platform.children, platform.urls
        product_id = asyncio.run(load_catalog(platform.databases["product"]))
        targets = {
            "list": urls["gateway"] + LIST_QUERY,
            "product": f"{urls['gateway']}/api/v1/products/{product_id}",
            "list-direct": urls["product"] + LIST_QUERY,
            "product-direct": f"{urls['product']}/api/v1/products/{product_id}",
            "passthrough": urls["gateway"] + PASSTHROUGH,
        }
        for target in targets.values():
            wait_http(target)
        # PostgreSQL is left out: its backends come and go, so its CPU time cannot be summed.
        watch = [children["product"], children["gateway"], children["auth"]]

        before = machine_state()
        for target in targets.values():  # warm-up: pools, caches, lazy imports
            run_wrk(target, connections=max(concurrencies), duration=2)
        for round_no, variant in interleaved(variants, args.rounds):
            name, connections = variant.split("@")
            result = run_wrk(
                targets[name], connections=int(connections), duration=args.duration, watch=watch
            )
            series[variant].runs.append(result)
            progress(
                f"round {round_no} {variant:18} {result.requests_per_second:7.0f} req/s "
                f"p50 {result.p50_ms:6.2f} ms p99 {result.p99_ms:7.2f} ms "
                f"product {result.cpu_us_per_request('product'):5.0f} us/req "
                f"gateway {result.cpu_us_per_request('gateway'):5.0f} us/req "
                f"load {result.load_before:.2f}"
            )
        after = machine_state()
        for child in (children["product"], children["gateway"]):
            answers = dict(sorted(child.answers().items()))
            progress(f"{child.name} answered (status: count) {answers}")

    if args.json:
        path = write_results(
            "catalog_browse",
            {"args": vars(args), "before": before, "after": after, "series": series},
        )
        progress(f"wrote {path}")
    print(
        f"\n{PRODUCTS} products, {args.duration:g}s x {args.rounds} rounds, medians; "
        f"{before['uptime']}"
    )
    rows = []
    for c in concurrencies:
        for name in VARIANTS:
            s = series[f"{name}@{c}"]
            backend = "auth" if name == "passthrough" else "product"
            rows.append(
                [
                    c,
                    name,
                    s.median("requests_per_second"),
                    s.median("p50_ms"),
                    s.median("p99_ms"),
                    s.median_cpu_us(backend),
                    s.median_cpu_us("gateway") if not name.endswith("direct") else "-",
                    s.failures,
                ]
            )
    print_table(
        [
            "connections",
            "request",
            "req/s",
            "p50 ms",
            "p99 ms",
            "backend CPU us/req",
            "gateway CPU us/req",
            "errors",
        ],
        rows,
    )
    return 0


async def load_catalog(database_url: str) -> str:
    """Inserts the categories, products and their (ready) pictures; the id of one product."""
    url = make_url(database_url)
    connection = await asyncpg.connect(
        host=url.host,
        port=url.port,
        user=url.username,
        password=url.password,
        database=url.database,
    )
    try:
        categories = [uuid.uuid4() for _ in range(CATEGORIES)]
        await connection.executemany(
            "INSERT INTO categories (id, slug, name, created_at) VALUES ($1, $2, $3, now())",
            [(c, f"shelf-{i}", f"Shelf {i}") for i, c in enumerate(categories)],
        )
        await connection.execute(
            "INSERT INTO products (id, sku, name, description, price_amount, currency, "
            "category_id, attributes, active, created_at, updated_at) "
            "SELECT gen_random_uuid(), 'SKU-' || i, 'Product ' || i, "
            "'A fine product, number ' || i || ', for every day.', 100 + (i * 7919) % 100000, "
            "'EUR', ($1::uuid[])[1 + i % $2], '{\"colour\": \"blue\"}'::jsonb, true, "
            "now() - i * interval '1 second', now() FROM generate_series(1, $3) AS i",
            categories,
            CATEGORIES,
            PRODUCTS,
        )
        await connection.execute(
            "INSERT INTO product_images (id, product_id, key, content_type, size, status, "
            "created_at) SELECT gen_random_uuid(), id, 'products/' || id || '/picture', "
            "'image/png', 2048, 'ready', now() FROM products"
        )
        await connection.execute("VACUUM ANALYZE")
        product_id = await connection.fetchval(
            "SELECT id FROM products WHERE category_id = $1 LIMIT 1", categories[3]
        )
    finally:
        await connection.close()
    return str(product_id)


if __name__ == "__main__":
    main_guard(main)
