"""Analytics in the admin console, in a real browser on the shared platform: after a
customer's order, an admin sees it in the sales, the top products and the funnel of the
day (each drawn by Chart.js), downloads the sales as CSV, and a period that ends before it
starts is refused in words.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.support import eventually
from tests.e2e.web import Shop, Tab, sign_in

pytestmark = pytest.mark.e2e

# Bought in one order, enough units to rank among the day's top products of the shared shop.
UNITS = 90


def today() -> str:
    return datetime.now(UTC).date().isoformat()


def sold_today(web: Shop) -> dict[str, Any]:
    """A new product of which a customer bought UNITS today, once analytics has counted it."""
    product = web.new_product(f"Analytics lamp {uuid.uuid4().hex[:6]}", "Bright.", stock=UNITS)
    other = web.new_product(f"Analytics bulb {uuid.uuid4().hex[:6]}", "Spare.", stock=1)
    who = web.customer("counted")
    added = web.api.put(
        f"/cart/items/{product['id']}", json={"quantity": UNITS}, headers=who.headers
    )
    assert added.status_code == 200, added.text
    web.confirmed_order(who, other["sku"])
    period = {"from": today(), "to": today(), "limit": 10}

    def counted() -> bool | None:
        top = web.api.get("/analytics/top-products", params=period, headers=web.admin.headers)
        assert top.status_code == 200, top.text
        return True if any(p["product_id"] == product["id"] for p in top.json()) else None

    eventually(counted, what="analytics to count the order")
    return product


def test_an_admin_sees_the_days_sales_top_products_and_funnel_and_downloads_csv(
    tab: Tab, web: Shop
):
    product = sold_today(web)
    page = tab.page
    sign_in(page, web.admin, "/admin#/signin")
    expect(page.get_by_role("heading", name="Orders", exact=True)).to_be_visible()
    page.get_by_role("link", name="Analytics").click()
    expect(page.get_by_role("heading", name="Analytics", exact=True)).to_be_visible()
    page.get_by_label("From", exact=True).fill(today())
    page.get_by_label("To", exact=True).fill(today())
    page.get_by_role("button", name="Show").click()

    top = page.get_by_role("table", name="Top products")
    expect(top.get_by_role("row", name=product["name"])).to_contain_text(str(UNITS))
    funnel = page.get_by_role("table", name="Funnel")
    expect(funnel.get_by_role("row", name="Orders confirmed")).to_be_visible()
    confirmed = funnel.get_by_role("row", name="Orders confirmed").get_by_role("cell").nth(1)
    assert int(confirmed.inner_text()) >= 1
    page.get_by_text("Days with sales").click()
    expect(
        page.get_by_role("table", name="Sales per day").get_by_role("row", name=today())
    ).to_be_visible()
    assert (
        page.evaluate(
            "[...document.querySelectorAll('canvas')].filter((c) => Chart.getChart(c)).length"
        )
        == 3
    )
    assert f"from={today()}" in page.url

    with page.expect_download() as downloading:
        page.get_by_role("link", name="Download sales as CSV").click()
    saved = downloading.value
    assert saved.suggested_filename == f"sales-{today()}-{today()}.csv"
    lines = Path(saved.path()).read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("date,orders,revenue_amount,revenue_currency")
    assert any(line.startswith(today()) for line in lines[1:])


def test_a_period_that_ends_before_it_starts_is_refused_in_words(tab: Tab, web: Shop):
    page = tab.page
    sign_in(page, web.admin, "/admin#/signin")
    expect(page.get_by_role("heading", name="Orders", exact=True)).to_be_visible()
    page.goto("/admin#/analytics")
    tomorrow = (datetime.now(UTC).date() + timedelta(days=1)).isoformat()
    page.get_by_label("From", exact=True).fill(tomorrow)
    page.get_by_label("To", exact=True).fill(today())
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_role("alert")).to_be_visible()
    expect(page.get_by_role("table", name="Funnel")).to_have_count(0)
