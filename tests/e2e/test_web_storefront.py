"""The storefront in a real browser (Debian's chromium) on the shared platform: a customer
browses, searches, buys and sees the order; a declined card says why; a double click orders
once; the session survives a reload and an access token the gateway no longer accepts.
"""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import Page, Request, Route, expect

from tests.e2e.web import (
    DECLINED_CARD,
    GOOD_CARD,
    ON_SALE,
    ON_SALE_NAME,
    Customer,
    Shop,
    Tab,
    fill_checkout,
    sign_in,
    tiny_png,
)

pytestmark = pytest.mark.e2e


def add_to_cart_through_the_page(page: Page, search: str = "chopping board") -> None:
    page.goto("/")
    page.get_by_label("Search").fill(search)
    page.get_by_label("Search").press("Enter")
    page.get_by_role("link", name=ON_SALE_NAME).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(ON_SALE_NAME)
    page.get_by_role("button", name="Add to cart").click()
    expect(page.get_by_text(f"{ON_SALE_NAME} is in your cart.")).to_be_visible()


def at_checkout(tab: Tab, web: Shop, name: str, card: str) -> Customer:
    """A new customer, signed in, with a chopping board in the cart and the form filled."""
    who = web.customer(name)
    sign_in(tab.page, who)
    add_to_cart_through_the_page(tab.page)
    tab.page.goto("/#/checkout")
    fill_checkout(tab.page, card)
    return who


def test_customer_browses_searches_registers_buys_and_sees_the_order(tab: Tab, web: Shop):
    page = tab.go("/")
    expect(page.get_by_role("heading", name="All products")).to_be_visible()
    expect(page.get_by_role("list", name="Products").get_by_role("listitem").first).to_be_visible()

    # Search, open the product, add two to the cart before having an account.
    page.get_by_label("Search").fill("chopping board")
    page.get_by_role("button", name="Go").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Results for “chopping board”")
    page.get_by_role("link", name=ON_SALE_NAME).click()
    expect(page.get_by_text("In stock")).to_be_visible()
    expect(page.get_by_text("€45.00")).to_be_visible()
    page.get_by_label("Quantity").fill("2")
    page.get_by_role("button", name="Add to cart").click()
    page.get_by_role("link", name="View cart").click()
    expect(page.get_by_text(f"2 \u00d7 {ON_SALE_NAME} at €45.00")).to_be_visible()

    # Register from the cart; the guest's lines come along.
    page.get_by_role("main").get_by_role("link", name="Register").click()
    email = f"grace-{page.evaluate('crypto.randomUUID()')[:8]}@example.com"
    page.get_by_label("Name").fill("Grace Hopper")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill("correct-horse-battery")
    page.get_by_role("button", name="Register").click()
    expect(page.get_by_role("heading", name="Your cart")).to_be_visible()
    expect(page.get_by_text("Total: €90.00")).to_be_visible()

    # Check out with the card that succeeds.
    page.get_by_role("link", name="Check out").click()
    fill_checkout(page, GOOD_CARD)
    page.get_by_role("button", name="Place order").click()
    expect(page.get_by_text("Order confirmed. Thank you!")).to_be_visible()
    order_id = page.url.rsplit("/", 1)[-1]

    # The account lists it as confirmed; the API agrees.
    page.get_by_role("link", name="Account").click()
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=order_id[:8]))
    expect(row.get_by_role("cell", name="Confirmed")).to_be_visible()
    who = web.bearer(email, "correct-horse-battery")
    seen = web.api.get(f"/orders/{order_id}", headers=who).json()
    assert (seen["status"], seen["total"]["amount"], seen["items"][0]["sku"]) == (
        "confirmed",
        9000,
        ON_SALE,
    )


def test_a_declined_card_says_why_next_to_the_order(tab: Tab, web: Shop):
    at_checkout(tab, web, "declined", DECLINED_CARD)
    tab.page.get_by_role("button", name="Place order").click()
    expect(tab.page.get_by_text("Your card was declined (card_declined).")).to_be_visible()
    expect(tab.page.get_by_text("Status: Failed")).to_be_visible()


def test_a_problem_from_the_api_is_shown_next_to_its_field(tab: Tab, web: Shop):
    who = at_checkout(tab, web, "typo", "4242424242424241")  # fails the Luhn check
    tab.page.get_by_role("button", name="Place order").click()
    card_number = tab.page.get_by_label("Card number")
    expect(card_number).to_have_attribute("aria-invalid", "true")
    error = tab.page.locator("#" + card_number.get_attribute("id") + "-error")
    expect(error).to_be_visible()
    expect(error).not_to_be_empty()
    assert web.orders_of(who) == []


def test_a_double_click_on_place_order_places_one_order(tab: Tab, web: Shop):
    who = at_checkout(tab, web, "double", GOOD_CARD)
    orders_posted: list[str] = []
    tab.page.on(
        "request",
        lambda r: (
            orders_posted.append(r.headers.get("idempotency-key", ""))
            if r.method == "POST" and r.url.endswith("/api/v1/orders")
            else None
        ),
    )
    tab.page.get_by_role("button", name="Place order").dblclick()
    expect(tab.page.get_by_text("Order confirmed. Thank you!")).to_be_visible()
    assert len(orders_posted) == 1
    assert orders_posted[0]
    assert [o["status"] for o in web.orders_of(who)] == ["confirmed"]


def test_a_retry_after_a_lost_answer_sends_the_same_key_and_orders_once(tab: Tab, web: Shop):
    who = at_checkout(tab, web, "retry", GOOD_CARD)
    keys: list[str] = []

    def lose_the_first_answer(route: Route, request: Request) -> None:
        keys.append(request.headers.get("idempotency-key", ""))
        if len(keys) == 1:
            route.fetch()  # the shop gets the order and answers; the answer is lost
            route.abort("connectionreset")
        else:
            route.continue_()

    tab.page.route(re.compile(r".*/api/v1/orders$"), lose_the_first_answer)
    tab.page.get_by_role("button", name="Place order").click()
    expect(tab.page.get_by_role("alert")).to_contain_text("cannot be reached")
    tab.page.get_by_role("button", name="Place order").click()
    expect(tab.page.get_by_text("Order confirmed. Thank you!")).to_be_visible()
    assert len(keys) == 2
    assert keys[0] == keys[1] != ""
    assert [o["status"] for o in web.orders_of(who)] == ["confirmed"]


def test_the_session_survives_a_reload_and_no_token_is_in_web_storage(tab: Tab, web: Shop):
    who = web.customer("reload")
    sign_in(tab.page, who)
    expect(tab.page.get_by_role("heading", name="Your account")).to_be_visible()
    tab.page.reload()
    expect(tab.page.get_by_role("heading", name="Your account")).to_be_visible()
    expect(tab.page.get_by_role("button", name="Sign out")).to_be_visible()
    expect(tab.page.get_by_text(f"Email: {who.email}")).to_be_visible()

    # The refresh token is in a cookie scripts cannot read, sent to /session only.
    (cookie,) = [c for c in tab.context.cookies() if c["name"] == "mercato_refresh"]
    assert (cookie["httpOnly"], cookie["secure"], cookie["sameSite"], cookie["path"]) == (
        True,
        True,
        "Strict",
        "/session",
    )
    assert tab.page.evaluate("document.cookie") == ""
    storage = tab.page.evaluate(
        "JSON.stringify([Object.entries(localStorage), Object.entries(sessionStorage)])"
    )
    assert "eyJ" not in storage  # no JWT, access or refresh
    assert cookie["value"] not in storage


def test_an_access_token_the_gateway_refuses_is_renewed_without_the_customer_noticing(
    tab: Tab, web: Shop
):
    who = web.customer("expired")
    sign_in(tab.page, who)
    expect(tab.page.get_by_role("heading", name="Your account")).to_be_visible()

    # The next API call carries a token that is no longer valid, as an expired one would.
    spoiled: list[str] = []

    def spoil_once(route: Route, request: Request) -> None:
        headers = dict(request.headers)
        if not spoiled and "authorization" in headers:
            spoiled.append(request.url)
            headers["authorization"] = "Bearer expired.access.token"
        route.continue_(headers=headers)

    renewals: list[int] = []
    tab.page.on(
        "response",
        lambda r: renewals.append(r.status) if r.url.endswith("/session/refresh") else None,
    )
    tab.page.route(re.compile(r".*/api/v1/.*"), spoil_once)
    tab.page.goto("/#/cart")
    expect(tab.page.get_by_text("Your cart is empty.")).to_be_visible()
    assert spoiled
    assert renewals == [200]
    expect(tab.page.get_by_role("alert")).to_have_count(0)


def test_sign_out_revokes_the_refresh_token(tab: Tab, web: Shop):
    who = web.customer("leaving")
    sign_in(tab.page, who)
    (cookie,) = [c for c in tab.context.cookies() if c["name"] == "mercato_refresh"]
    tab.page.get_by_role("button", name="Sign out").click()
    expect(tab.page.get_by_role("link", name="Sign in")).to_be_visible()
    assert not [c for c in tab.context.cookies() if c["name"] == "mercato_refresh"]
    tab.page.reload()
    expect(tab.page.get_by_role("link", name="Sign in")).to_be_visible()

    # The old refresh token no longer works, even presented by hand.
    replay = httpx.post(
        f"{web.url}/session/refresh",
        headers={"X-Mercato-Session": "1", "Cookie": f"mercato_refresh={cookie['value']}"},
    )
    assert replay.status_code == 401


def test_a_refused_sign_in_is_shown_in_words(tab: Tab, web: Shop):
    who = web.customer("forgetful", signed_in=False)
    who.password = "not-the-password"
    sign_in(tab.page, who, signed_in=False)
    expect(tab.page.get_by_role("alert")).to_be_visible()
    expect(tab.page.get_by_role("link", name="Sign in")).to_be_visible()


def test_the_avatar_goes_up_through_the_presigned_url_and_shows(tab: Tab, web: Shop):
    who = web.customer("portrait")
    sign_in(tab.page, who)
    picture = {"name": "me.png", "mimeType": "image/png", "buffer": tiny_png()}
    tab.page.get_by_label("Avatar").set_input_files(files=[picture])
    tab.page.get_by_role("button", name="Upload avatar").click()
    shown = tab.page.get_by_role("img", name="Your avatar")
    expect(shown).to_be_visible()
    assert shown.evaluate("(img) => img.complete && img.naturalWidth") == 8
    assert web.api.get("/users/me", headers=who.headers).json()["avatar_url"]


def test_an_avatar_out_of_policy_is_refused_next_to_the_field(tab: Tab, web: Shop):
    who = web.customer("gif")
    sign_in(tab.page, who)
    tab.page.get_by_label("Avatar").set_input_files(
        files=[{"name": "me.gif", "mimeType": "image/gif", "buffer": b"GIF89a" + bytes(32)}]
    )
    tab.page.get_by_role("button", name="Upload avatar").click()
    expect(tab.page.get_by_label("Avatar")).to_have_attribute("aria-invalid", "true")
    expect(tab.page.get_by_role("alert")).to_be_visible()
    assert web.api.get("/users/me", headers=who.headers).json()["avatar_url"] is None


def test_cart_quantities_change_and_lines_go(tab: Tab, web: Shop):
    who = web.customer("cart")
    board = web.product(ON_SALE)
    web.api.put(f"/cart/items/{board['id']}", json={"quantity": 1}, headers=who.headers)
    sign_in(tab.page, who)
    tab.page.get_by_role("link", name="Cart").click()
    expect(tab.page.get_by_text("Total: €45.00")).to_be_visible()
    tab.page.get_by_label(f"Quantity of {ON_SALE_NAME}").fill("3")
    tab.page.get_by_label(f"Quantity of {ON_SALE_NAME}").press("Enter")
    expect(tab.page.get_by_text("Total: €135.00")).to_be_visible()
    tab.page.get_by_role("button", name=f"Remove {ON_SALE_NAME}").click()
    expect(tab.page.get_by_text("Your cart is empty.")).to_be_visible()
    assert web.api.get("/cart", headers=who.headers).json()["items"] == []


def test_a_confirmed_order_is_cancelled_from_the_account(tab: Tab, web: Shop):
    who = web.customer("regret")
    order = web.confirmed_order(who)
    sign_in(tab.page, who)
    row = tab.page.get_by_role("row").filter(has=tab.page.get_by_role("link", name=order["id"][:8]))
    row.get_by_role("button", name=f"Cancel order {order['id'][:8]}").click()
    expect(row.get_by_role("cell", name="Cancelled")).to_be_visible()
    assert web.api.get(f"/orders/{order['id']}", headers=who.headers).json()["status"] == (
        "cancelled"
    )


def test_profile_and_addresses_are_kept(tab: Tab, web: Shop):
    who = web.customer("mover")
    sign_in(tab.page, who)
    page = tab.page
    profile = page.get_by_role("region", name="Profile")
    profile.get_by_label("Name", exact=True).fill("Mover Renamed")
    profile.get_by_label("Phone").fill("+442071234567")
    profile.get_by_role("button", name="Save profile").click()
    expect(page.get_by_text("Profile saved.")).to_be_visible()
    profile.get_by_label("Label").fill("Home")
    profile.get_by_label("Address line 1").fill("221B Baker Street")
    profile.get_by_label("City").fill("London")
    profile.get_by_label("Postal code").fill("NW1 6XE")
    profile.get_by_label("Country").fill("gb")
    profile.get_by_role("button", name="Add address").click()
    expect(page.get_by_text("Home, 221B Baker Street, London, NW1 6XE, GB")).to_be_visible()
    page.reload()
    expect(page.get_by_label("Name", exact=True)).to_have_value("Mover Renamed")
    expect(page.get_by_text("Home, 221B Baker Street, London, NW1 6XE, GB")).to_be_visible()

    # The checkout offers the saved address.
    board = web.product(ON_SALE)
    web.api.put(f"/cart/items/{board['id']}", json={"quantity": 1}, headers=who.headers)
    page.goto("/#/checkout")
    expect(page.get_by_label("Address line 1")).to_have_value("221B Baker Street")
