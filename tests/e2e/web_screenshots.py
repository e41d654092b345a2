"""`make screenshots`: every main page of the storefront and the admin console at desktop and
phone width, into docs/screenshots/ (shown in the README).

    python -m tests.e2e.web_screenshots [OUT_DIR]

It starts its own seeded platform with the runner (like the e2e tests' ``shop``), makes a
customer with a past order and a full cart and an admin, then drives Debian's chromium.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, expect, sync_playwright

from tests.e2e.support import seeded_platform
from tests.e2e.web import (
    DESKTOP,
    GOOD_CARD,
    ON_SALE,
    PHONE,
    Shop,
    fill_checkout,
    launch,
    open_tab,
    sign_in,
)

OUT = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
WIDTHS = {"desktop": DESKTOP, "phone": PHONE}
# Pictures load lazily: the screenshot waits for those on screen.
# A product the demo customer reviewed (mercato.runner.demo_reviews).
REVIEWED = "KIT-PRESS"
PICTURES_IN_VIEW_LOADED = """() => [...document.images]
  .filter((img) => img.getBoundingClientRect().top < window.innerHeight)
  .every((img) => img.complete && img.naturalWidth > 0)"""


def storefront_pages(web: Shop, order_id: str) -> list[tuple[str, Callable[[Page], None]]]:
    """(file name, how to get there) for each storefront page, signed in as the buyer."""
    board = web.product(ON_SALE)
    reviewed = web.product(REVIEWED)

    def home(page: Page) -> None:
        page.goto("/")
        expect(page.get_by_role("list", name="Products").get_by_role("img").first).to_be_visible()

    def search(page: Page) -> None:
        page.goto("/#/?q=lamp")
        expect(page.get_by_role("heading", level=1)).to_contain_text("lamp")

    def product(page: Page) -> None:
        page.goto(f"/#/product/{board['id']}")
        expect(page.get_by_role("button", name="Add to cart")).to_be_visible()

    def reviews(page: Page) -> None:
        page.goto(f"/#/product/{reviewed['id']}")
        expect(page.get_by_role("heading", level=1)).to_have_text(reviewed["name"])
        listed = page.get_by_role("list", name="Reviews").get_by_role("img")
        expect(listed.first).to_be_visible()
        page.get_by_role("heading", name="Reviews", exact=True).scroll_into_view_if_needed()

    def cart(page: Page) -> None:
        page.goto("/#/cart")
        expect(page.get_by_text("Total:")).to_be_visible()

    def checkout(page: Page) -> None:
        page.goto("/#/checkout")
        fill_checkout(page, GOOD_CARD)
        page.get_by_label("CVC").blur()

    def order(page: Page) -> None:
        page.goto(f"/#/orders/{order_id}")
        expect(page.get_by_text("Order confirmed. Thank you!")).to_be_visible()

    def account(page: Page) -> None:
        page.goto("/#/account")
        expect(page.get_by_role("cell", name="Confirmed").first).to_be_visible()

    return [
        ("store-home", home),
        ("store-search", search),
        ("store-product", product),
        ("store-reviews", reviews),
        ("store-cart", cart),
        ("store-checkout", checkout),
        ("store-order", order),
        ("store-account", account),
    ]


def sign_in_page(page: Page) -> None:
    """The storefront's sign-in form."""
    page.goto("/#/signin")
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()


def admin_pages(
    order_id: str, reviewed: dict[str, Any]
) -> list[tuple[str, Callable[[Page], None]]]:
    """(file name, how to get there) for each admin page, signed in as an admin."""

    def visit(route: str, ready: str) -> Callable[[Page], None]:
        def go(page: Page) -> None:
            page.goto(f"/admin#/{route}")
            expect(page.get_by_role("heading", level=1)).to_have_text(ready)

        return go

    def analytics(page: Page) -> None:
        visit("analytics", "Analytics")(page)
        expect(page.get_by_role("table", name="Funnel")).to_be_visible()

    def listing(route: str, ready: str) -> Callable[[Page], None]:
        def go(page: Page) -> None:
            visit(route, ready)(page)
            expect(page.get_by_role("row").nth(1)).to_be_visible()

        return go

    return [
        ("admin-orders", visit("orders", "Orders")),
        ("admin-order", visit(f"orders/{order_id}", f"Order {order_id}")),
        ("admin-products", visit("products", "Products")),
        ("admin-new-product", visit("products/new", "New product")),
        ("admin-stock", visit(f"stock?sku={ON_SALE}", "Stock")),
        ("admin-users", visit("users", "Users")),
        ("admin-reviews", visit(f"reviews/{reviewed['id']}", f"Reviews of {reviewed['name']}")),
        ("admin-analytics", analytics),
        ("admin-logs", listing("logs", "Logs")),
        ("admin-audit", listing("audit", "Audit trail")),
        ("admin-status", listing("status", "Status")),
    ]


def take(web: Shop, out: Path) -> list[Path]:
    """Every page at every width; returns the files written."""
    who = web.customer("ada")
    order = web.confirmed_order(who)
    board = web.product(ON_SALE)
    web.api.put(f"/cart/items/{board['id']}", json={"quantity": 2}, headers=who.headers)
    written = []
    with sync_playwright() as playwright:
        browser = launch(playwright)
        for width, viewport in WIDTHS.items():
            for person, pages, start in (
                (None, [("store-sign-in", sign_in_page)], None),
                (who, storefront_pages(web, order["id"]), "/#/signin"),
                (web.admin, admin_pages(order["id"], web.product(REVIEWED)), "/admin#/signin"),
            ):
                tab = open_tab(browser, web.url, viewport)
                if person is not None and start is not None:
                    sign_in(tab.page, person, start)
                for name, go in pages:
                    go(tab.page)
                    tab.page.wait_for_function(PICTURES_IN_VIEW_LOADED)
                    path = out / f"{name}-{width}.png"
                    tab.page.screenshot(path=str(path), animations="disabled")
                    written.append(path)
                tab.context.close()
        browser.close()
    return written


def main() -> None:
    """Starts a seeded platform, takes the screenshots, stops it."""
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else OUT
    out.mkdir(parents=True, exist_ok=True)
    with seeded_platform() as platform:
        for path in take(Shop(platform), out):
            print(path)


if __name__ == "__main__":
    main()
