"""A registration and a checkout through the gateway appear in the administrator's analytics.

Runs on the shared platform (tests/e2e/conftest.py): other tests shop there too, so it reads
counters that only grow (orders, gross revenue, new users) and asks for at least its own share.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.e2e.support import RunningPlatform, eventually, login, mercato
from tests.e2e.test_shop_flow import add_card, check_out, sign_up

pytestmark = pytest.mark.e2e

API = "/api/v1"
PASSWORD = "correct-horse-battery"


@pytest.fixture(scope="module")
def gateway(shop: RunningPlatform) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=shop.url("gateway"), timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def root(shop: RunningPlatform) -> dict[str, str]:
    email = f"analyst-{uuid.uuid4().hex[:8]}@example.com"
    created = mercato(
        "admin", "create", "--email", email, "--password", PASSWORD,
        "--data-dir", str(shop.data_dir),
    )  # fmt: skip
    assert created.returncode == 0, created.stdout + created.stderr
    tokens = login(shop.url("gateway"), email, PASSWORD)
    assert tokens.status_code == 200, tokens.text
    return {"Authorization": f"Bearer {tokens.json()['access_token']}"}


def today(gateway: httpx.Client, root: dict[str, str]) -> dict[str, Any]:
    day = datetime.now(UTC).date().isoformat()
    period = {"from": day, "to": day}
    sales = gateway.get(f"{API}/analytics/sales", params=period, headers=root)
    assert sales.status_code == 200, sales.text
    users = gateway.get(f"{API}/analytics/users", params=period, headers=root)
    funnel = gateway.get(f"{API}/analytics/funnel", params=period, headers=root)
    (sold,) = sales.json()
    (joined,) = users.json()
    return {
        "orders": sold["orders"],
        "gross": sold["gross_revenue"]["amount"],
        "users": joined["users"],
        "carts": funnel.json()["carts"],
    }


def test_a_checkout_appears_in_todays_sales_funnel_and_new_users(
    gateway: httpx.Client, root: dict[str, str]
):
    before = today(gateway, root)
    kettle = next(
        p
        for p in gateway.get(f"{API}/products", params={"q": "kettle"}).json()["items"]
        if p["sku"] == "KIT-KETTLE"
    )
    eve = sign_up(gateway, "eve")
    gateway.put(f"{API}/cart/items/{kettle['id']}", json={"quantity": 1}, headers=eve)
    order = check_out(gateway, eve, add_card(gateway, eve, "4242424242424242"))
    assert order["status"] == "confirmed"

    def counted() -> dict[str, Any] | None:
        now = today(gateway, root)
        mine = (
            now["orders"] >= before["orders"] + 1
            and now["gross"] >= before["gross"] + order["total"]["amount"]
            and now["users"] >= before["users"] + 1
            and now["carts"] >= before["carts"] + 1
        )
        return now if mine else None

    eventually(counted, what="the checkout in today's analytics", deadline=60)

    customer = gateway.get(f"{API}/analytics/sales", headers=eve)
    assert customer.status_code == 403
    assert gateway.get(f"{API}/analytics/sales").status_code == 401
