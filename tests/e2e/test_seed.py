"""`mercato up --seed` and `mercato seed` end to end: the runner in a subprocess, the demo
data through its gateway, a second load changing nothing."""

from __future__ import annotations

import shutil
from typing import Any

import httpx
import pytest

from mercato.runner import demo_reviews, seed
from tests.e2e.support import (
    RunningPlatform,
    eventually,
    mercato,
    new_data_dir,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def platform(shop: RunningPlatform) -> RunningPlatform:
    """The shared platform, started with ``--seed``."""
    return shop


def test_up_with_seed_loads_the_demo_data_and_seed_again_changes_nothing(platform):
    def seeded() -> bool | None:
        return True if seed.DEMO_CUSTOMER_EMAIL in printed(platform) else None

    eventually(seeded, what="the demo data loaded by --seed", deadline=180)
    assert "demo data not loaded" not in printed(platform)

    again = mercato("seed", "--data-dir", str(platform.data_dir))
    assert again.returncode == 0, again.stderr
    assert "products: 0 created, 30 there" in again.stdout
    assert "pictures uploaded: 0; SKUs stocked: 0; demo customer already there" in again.stdout
    assert seed.DEMO_CUSTOMER_PASSWORD in again.stdout

    gateway = platform.url("gateway")
    listed = httpx.get(f"{gateway}/api/v1/products", params={"limit": 100}, timeout=30).json()
    assert len(listed["items"]) == len(seed.PRODUCTS)
    for item in listed["items"][:5]:
        assert len(item["images"]) == 1
        picture = httpx.get(item["images"][0]["url"], timeout=30)
        assert picture.status_code == 200
        assert picture.content.startswith(b"\x89PNG")
    stock = httpx.get(f"{gateway}/api/v1/inventory/FUR-TABLE", timeout=30).json()
    assert stock == {"sku": "FUR-TABLE", "available": 4}
    login = httpx.post(
        f"{gateway}/api/v1/auth/login",
        json={"email": seed.DEMO_CUSTOMER_EMAIL, "password": seed.DEMO_CUSTOMER_PASSWORD},
        timeout=30,
    )
    assert login.status_code == 200

    # The demo customer's order and reviews: loaded once, and the ratings show them.
    assert "demo reviews written: 0" in again.stdout

    def rated() -> dict[str, dict[str, Any]] | None:
        listed = httpx.get(f"{gateway}/api/v1/products", params={"limit": 100}, timeout=30)
        ratings = {p["sku"]: p["rating"] for p in listed.json()["items"]}
        shown = {sku: ratings[sku] for sku in demo_reviews.DEMO_REVIEWS}
        return shown if all(r["count"] == 1 for r in shown.values()) else None

    assert eventually(rated, what="the demo reviews in the ratings", deadline=60) == {
        sku: {"average": float(stars), "count": 1}
        for sku, (stars, _, _) in demo_reviews.DEMO_REVIEWS.items()
    }


def printed(platform: RunningPlatform) -> str:
    """Everything `mercato up` printed: the traffic of modules before this one on the
    shared platform (test_load's shoppers) pushes the seed's lines far from the tail."""
    assert platform.output is not None
    return platform.output.read_text(errors="replace")


def test_seed_without_a_running_platform_says_so():
    data_dir = new_data_dir()
    try:
        refused = mercato("seed", "--data-dir", str(data_dir))
    finally:
        shutil.rmtree(data_dir.parent, ignore_errors=True)
    assert refused.returncode == 1
    assert "not running" in refused.stderr
