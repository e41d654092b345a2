"""The storefront used without a mouse, on a phone, on a slow line: every control has a
name, the keyboard reaches everything with a visible focus, pages fit a phone's width, and
a slow answer shows progress.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Locator, Page, Route, expect

from tests.e2e.web import ON_SALE, ON_SALE_NAME, PHONE, Shop, Tab, open_tab, sign_in

pytestmark = pytest.mark.e2e

UNNAMED_CONTROLS = """() => [...document.querySelectorAll("input, select, textarea, button, a")]
  .filter((el) => el.offsetParent !== null)
  .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute("aria-label")
                  && !el.textContent.trim())
  .map((el) => el.outerHTML)"""


def tab_to(page: Page, target: Locator, presses: int = 60) -> None:
    """Presses Tab until ``target`` has the focus."""
    for _ in range(presses):
        page.keyboard.press("Tab")
        if target.evaluate("(el) => el === document.activeElement"):
            return
    raise AssertionError(f"Tab never reached {target}")


def focus_ring(page: Page) -> tuple[str, float]:
    return page.evaluate(
        "(() => { const s = getComputedStyle(document.activeElement);"
        " return [s.outlineStyle, parseFloat(s.outlineWidth)]; })()"
    )


def test_every_control_of_the_main_pages_has_a_name(tab: Tab, web: Shop):
    board = web.product(ON_SALE)
    page = tab.page
    for path, ready in (
        ("/", page.get_by_role("link", name=ON_SALE_NAME)),
        (f"/#/product/{board['id']}", page.get_by_role("button", name="Add to cart")),
        ("/#/register", page.get_by_role("button", name="Register")),
        ("/#/signin", page.get_by_role("button", name="Sign in")),
    ):
        page.goto(path)
        if path == "/":
            page.goto("/#/?q=chopping")
        expect(ready).to_be_visible()
        assert page.evaluate(UNNAMED_CONTROLS) == [], path
    sign_in(page, web.customer("names"))
    page.goto("/#/checkout")
    expect(page.get_by_text("Your cart is empty.")).to_be_visible()
    page.goto(f"/#/product/{board['id']}")
    page.get_by_role("button", name="Add to cart").click()
    expect(page.get_by_text(f"{ON_SALE_NAME} is in your cart.")).to_be_visible()
    page.goto("/#/checkout")
    expect(page.get_by_role("button", name="Place order")).to_be_visible()
    assert page.evaluate(UNNAMED_CONTROLS) == []
    for label in ("Name", "Address line 1", "City", "Postal code", "Country"):
        expect(page.get_by_label(label, exact=True)).to_be_visible()


def test_the_keyboard_alone_finds_a_product_and_adds_it_with_a_visible_focus(tab: Tab):
    page = tab.go("/")
    expect(page.get_by_role("list", name="Products")).to_be_visible()
    search = page.get_by_label("Search")
    tab_to(page, search)
    style, width = focus_ring(page)
    assert style != "none"
    assert width >= 2
    page.keyboard.type("chopping board")
    page.keyboard.press("Enter")
    product = page.get_by_role("link", name=ON_SALE_NAME)
    expect(product).to_be_visible()
    tab_to(page, product)
    assert focus_ring(page)[0] != "none"
    page.keyboard.press("Enter")
    add = page.get_by_role("button", name="Add to cart")
    expect(add).to_be_visible()
    tab_to(page, add)
    assert focus_ring(page)[0] != "none"
    page.keyboard.press("Enter")
    expect(page.get_by_text(f"{ON_SALE_NAME} is in your cart.")).to_be_visible()


@pytest.mark.parametrize("path", ["/", "/#/signin", "/#/register", "/admin"])
def test_pages_fit_a_phone_screen(browser: Browser, web: Shop, path: str):
    phone = open_tab(browser, web.url, PHONE)
    try:
        page = phone.go(path)
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        # The page is drawn once its pictures are in (not "networkidle": Playwright never
        # counts the anonymous /session/refresh, a 401 with WWW-Authenticate, as finished).
        page.wait_for_function("() => [...document.images].every((image) => image.complete)")
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0
    finally:
        phone.context.close()


def test_a_slow_answer_shows_progress_until_it_arrives(tab: Tab):
    held: list[Route] = []

    def hold_the_first(route: Route) -> None:
        if held:
            route.continue_()
        else:
            held.append(route)

    tab.page.route(re.compile(r".*/api/v1/products\?.*"), hold_the_first)
    tab.page.goto("/")
    for _ in range(100):  # the page's requests are dispatched while Playwright waits
        if held:
            break
        tab.page.wait_for_timeout(100)
    assert held, "the page never asked for products"
    progress = tab.page.get_by_role("status").filter(has_text="Loading")
    expect(progress).to_be_visible()
    expect(tab.page.get_by_role("list", name="Products").get_by_role("link")).to_have_count(0)
    held[0].continue_()
    expect(tab.page.get_by_role("list", name="Products").get_by_role("link").first).to_be_visible()
    expect(progress).to_be_hidden()
