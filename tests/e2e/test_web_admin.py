"""The admin console in a real browser on the shared platform: only admins get in; an admin
creates a product, sets its stock, finds a customer's order and refunds it. The chart
library it vendors is served by the gateway, unchanged and with its licence.
"""

from __future__ import annotations

import hashlib
import re
import uuid

import httpx
import pytest
from playwright.sync_api import expect

from mercato.services.gateway.web import web_root
from tests.e2e.support import jwt_claims
from tests.e2e.web import Shop, Tab, sign_in, tiny_png

pytestmark = pytest.mark.e2e

CHART_JS = "/assets/vendor/chart.js/chart.umd.min.js"


def test_a_customer_is_refused_the_admin_console_in_words(tab: Tab, web: Shop):
    who = web.customer("curious")
    sign_in(tab.page, who, "/admin#/signin", signed_in=False)
    expect(tab.page.get_by_role("alert")).to_contain_text("not an administrator")
    expect(tab.page.get_by_role("link", name="Orders")).to_have_count(0)
    # No session is kept for an account that cannot use the console.
    assert not [c for c in tab.context.cookies() if c["name"] == "mercato_refresh"]


def test_an_admin_creates_a_product_sets_its_stock_and_refunds_an_order(tab: Tab, web: Shop):
    page = tab.page
    sign_in(page, web.admin, "/admin#/signin")
    expect(page.get_by_role("heading", name="Orders", exact=True)).to_be_visible()

    # A new product, then its stock.
    sku = f"WEB-{uuid.uuid4().hex[:8].upper()}"
    page.get_by_role("link", name="Products").click()
    page.get_by_role("link", name="New product").click()
    page.get_by_label("SKU").fill(sku)
    page.get_by_label("Name").fill("Walnut spoon")
    page.get_by_label("Description").fill("Carved by hand.")
    page.get_by_label("Price").fill("12.50")
    page.get_by_role("button", name="Create product").click()
    expect(page.get_by_text(f"Product {sku} created; set its stock.")).to_be_visible()
    page.get_by_label("On hand").fill("7")
    page.get_by_role("button", name="Set stock").click()
    expect(page.get_by_text(f"{sku}: 7 available")).to_be_visible()
    page.get_by_label("Change").fill("-2")
    page.get_by_label("Reason").fill("damaged in the shop")
    page.get_by_role("button", name="Adjust stock").click()
    expect(page.get_by_text(f"{sku}: 5 available")).to_be_visible()
    made = web.product(sku)
    web.made.append(made["id"])
    assert (made["name"], made["price"]) == ("Walnut spoon", {"amount": 1250, "currency": "EUR"})

    # Its picture, through the presigned URL.
    page.goto(f"/admin#/products/{made['id']}")
    page.get_by_label("Picture").set_input_files(
        files=[{"name": "spoon.png", "mimeType": "image/png", "buffer": tiny_png((120, 80, 40))}]
    )
    page.get_by_role("button", name="Upload picture").click()
    expect(page.get_by_role("img", name="Walnut spoon, picture 1")).to_be_visible()
    assert len(web.product(sku)["images"]) == 1

    # A customer buys it; the admin finds that order and refunds it.
    who = web.customer("refunded")
    order = web.confirmed_order(who, sku)
    page.get_by_role("link", name="Orders").click()
    page.get_by_label("Order ID").fill(order["id"])
    page.get_by_role("button", name="Find order").click()
    expect(page.get_by_text(f"Customer: Refunded <{who.email}>")).to_be_visible()
    expect(page.locator(".status")).to_have_text("confirmed")
    page.get_by_role("button", name="Refund").click()
    expect(page.locator(".status")).to_have_text("refunded", timeout=60_000)
    seen = web.api.get(f"/orders/{order['id']}", headers=who.headers).json()
    assert seen["status"] == "refunded"


def test_the_orders_page_draws_its_chart_with_the_vendored_library(tab: Tab, web: Shop):
    sign_in(tab.page, web.admin, "/admin#/signin")
    chart = tab.page.get_by_role("img", name="Latest orders by status")
    expect(chart).to_be_visible()
    assert tab.page.evaluate("typeof window.Chart") == "function"
    assert tab.page.evaluate("Chart.version") == "4.6.1"
    assert tab.page.evaluate("Chart.getChart(document.querySelector('canvas')) !== undefined")


def test_the_chart_library_is_served_unchanged_with_its_licence(web: Shop):
    version = (web_root() / "assets/vendor/chart.js/VERSION").read_text()
    (pinned,) = re.findall(r"sha256 of chart.umd.min.js ([0-9a-f]{64})", version)
    served = httpx.get(web.url + CHART_JS)
    assert served.status_code == 200
    assert served.headers["content-type"].startswith(("text/javascript", "application/javascript"))
    assert hashlib.sha256(served.content).hexdigest() == pinned
    licence = httpx.get(web.url + "/assets/vendor/chart.js/LICENSE.md")
    assert licence.status_code == 200
    assert "MIT License" in licence.text


def test_an_admin_edits_and_deactivates_a_product(tab: Tab, web: Shop):
    product = web.new_product("Clay cup", "Glazed.", stock=4)
    sign_in(tab.page, web.admin, "/admin#/signin")
    tab.page.goto(f"/admin#/products/{product['id']}")
    tab.page.get_by_label("Name").fill("Clay mug")
    tab.page.get_by_label("Price").fill("14")
    tab.page.get_by_role("button", name="Save product").click()
    expect(tab.page.get_by_text("Product saved.")).to_be_visible()
    seen = web.api.get(f"/products/{product['id']}").json()
    assert (seen["name"], seen["price"]["amount"]) == ("Clay mug", 1400)
    tab.page.get_by_role("button", name="Deactivate product").click()
    expect(tab.page.get_by_text("Product deactivated: it no longer sells.")).to_be_visible()
    assert product["sku"] not in [
        p["sku"] for p in web.api.get("/products", params={"q": "clay mug"}).json()["items"]
    ]


def test_an_admin_makes_a_customer_an_admin(tab: Tab, web: Shop):
    who = web.customer("promoted")
    sign_in(tab.page, web.admin, "/admin#/signin")
    tab.page.get_by_role("link", name="Users").click()
    tab.page.get_by_role("button", name=f"Make {who.email} an admin").click()
    expect(tab.page.get_by_text("Now an admin.")).to_be_visible()
    token = web.bearer(who.email, who.password)["Authorization"].split()[1]
    assert "admin" in jwt_claims(token)["roles"]
