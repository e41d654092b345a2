"""Navigation in a real browser on the shared platform: a page whose answer arrives after the
person has moved on to another page draws nothing over that newer page, in the storefront
and in the admin console.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, Route, expect

from tests.e2e.web import ON_SALE, ON_SALE_NAME, Shop, Tab, sign_in

pytestmark = pytest.mark.e2e


class HeldAnswer:
    """The first request matching ``pattern`` is held until ``release()``; others go through."""

    def __init__(self, page: Page, pattern: re.Pattern[str]) -> None:
        self.routes: list[Route] = []
        page.route(pattern, self._hold)

    def _hold(self, route: Route) -> None:
        if self.routes:
            route.continue_()
        else:
            self.routes.append(route)

    def release(self) -> None:
        """Lets the held request reach the shop and its real answer reach the page."""
        assert self.routes, "the page never asked for the held answer"
        held = self.routes[0]
        held.fulfill(response=held.fetch())


def product_answer(product_id: str) -> re.Pattern[str]:
    return re.compile(rf".*/api/v1/products/{re.escape(product_id)}$")


def reviews_asked(product_id: str) -> re.Pattern[str]:
    return re.compile(rf".*/api/v1/reviews\?.*product_id={re.escape(product_id)}.*")


def move_on_before_the_answer(
    page: Page, product_id: str, slow: str, link: str, heading: str
) -> None:
    """Opens ``slow`` with its product held, moves on by ``link`` to ``heading``, lets it in."""
    held = HeldAnswer(page, product_answer(product_id))
    with page.expect_request(product_answer(product_id)):
        page.goto(slow)
    page.get_by_role("link", name=link, exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(heading)
    # Both product pages ask for the reviews right after drawing themselves: once this
    # request is out, the late page has drawn whatever it was going to draw.
    with page.expect_request(reviews_asked(product_id)):
        held.release()


def test_a_product_page_answered_late_leaves_the_cart_opened_since_on_screen(tab: Tab, web: Shop):
    product = web.product(ON_SALE)
    page = tab.page
    move_on_before_the_answer(
        page, product["id"], f"/#/product/{product['id']}", "Cart", "Your cart"
    )
    expect(page.get_by_role("heading", level=1)).to_have_text("Your cart")
    expect(page.get_by_role("heading", name=ON_SALE_NAME)).to_have_count(0)
    expect(page.get_by_role("button", name="Add to cart")).to_have_count(0)


def test_an_admin_page_answered_late_leaves_the_stock_page_opened_since_on_screen(
    tab: Tab, web: Shop
):
    product = web.product(ON_SALE)
    page = tab.page
    sign_in(page, web.admin, "/admin#/signin")
    expect(page.get_by_role("heading", name="Orders", exact=True)).to_be_visible()
    move_on_before_the_answer(
        page, product["id"], f"/admin#/reviews/{product['id']}", "Stock", "Stock"
    )
    expect(page.get_by_role("heading", level=1)).to_have_text("Stock")
    expect(page.get_by_role("heading", name=f"Reviews of {ON_SALE_NAME}")).to_have_count(0)
    expect(page.get_by_role("link", name="All products")).to_have_count(0)
