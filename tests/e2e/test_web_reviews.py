"""Reviews in a real browser on the shared platform: a buyer reviews a product from their
order, changes and deletes the review, and the product's rating follows; a review written
like markup stays text; a second review and a review by someone who did not buy are refused
in words; an admin hides a review and it leaves the product page.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.support import eventually
from tests.e2e.web import Customer, Shop, Tab, sign_in

pytestmark = pytest.mark.e2e

MARKUP = "<img src=x onerror=alert(1)>"


def new_product(web: Shop, name: str) -> dict[str, Any]:
    return web.new_product(f"{name} {uuid.uuid4().hex[:6]}", "Made for a review test.", stock=5)


def review_through_the_api(web: Shop, who: Customer, product: dict[str, Any], **review: Any) -> str:
    """Writes a review as ``who``, once review has learnt of their order (from its events)."""

    def written() -> str | None:
        answer = web.api.post(
            "/reviews", json={"product_id": product["id"], **review}, headers=who.headers
        )
        if answer.status_code == 403:
            return None
        assert answer.status_code == 201, answer.text
        return str(answer.json()["id"])

    return eventually(written, what=f"review to learn that {who.email} bought {product['sku']}")


def bought(web: Shop, who: Customer, product: dict[str, Any]) -> dict[str, Any]:
    """``who`` buys ``product`` and review knows it.

    A second product in the same order is reviewed through the API first: when that is
    accepted, the order's event that makes ``who`` a buyer of both has been applied.
    """
    probe = new_product(web, "Probe")
    added = web.api.put(f"/cart/items/{probe['id']}", json={"quantity": 1}, headers=who.headers)
    assert added.status_code == 200, added.text
    order = web.confirmed_order(who, product["sku"])
    review_through_the_api(web, who, probe, rating=3, title="Probe", body="")
    return order


def fill_review(page: Page, rating: str, title: str, body: str) -> None:
    page.get_by_label("Rating").select_option(rating)
    page.get_by_label("Title").fill(title)
    page.get_by_label("Your review").fill(body)


def test_a_buyer_reviews_from_the_order_changes_and_deletes_it_and_the_rating_follows(
    tab: Tab, web: Shop
):
    who = web.customer("reviewer")
    product = new_product(web, "Enamel mug")
    order = bought(web, who, product)
    page = tab.page
    sign_in(page, who)

    page.goto(f"/#/orders/{order['id']}")
    page.get_by_role("link", name=f"Review {product['name']}").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(product["name"])
    expect(page.locator(".rating-line")).to_have_text("No reviews yet")
    fill_review(page, "4", "Keeps tea hot", MARKUP)
    page.get_by_role("button", name="Post review").click()
    expect(page.get_by_text("your review is posted")).to_be_visible()
    reviews = page.get_by_role("list", name="Reviews")
    expect(reviews.get_by_text(MARKUP, exact=True)).to_be_visible()
    expect(reviews.get_by_role("img", name="Rated 4 out of 5")).to_be_visible()
    expect(page.locator(".rating-line")).to_have_text("★ 4.0 (1 review)")
    assert page.locator('img[src="x"]').count() == 0
    assert tab.dialogs == []

    page.get_by_role("button", name="Edit your review").click()
    expect(page.get_by_label("Title")).to_have_value("Keeps tea hot")
    page.get_by_label("Rating").select_option("2")
    page.get_by_role("button", name="Save review").click()
    expect(page.get_by_text("Your review is saved.")).to_be_visible()
    expect(page.locator(".rating-line")).to_have_text("★ 2.0 (1 review)")

    page.get_by_role("button", name="Edit your review").click()
    page.get_by_role("button", name="Delete review").click()
    expect(page.get_by_text("Your review is deleted.")).to_be_visible()
    expect(reviews).to_have_text("No reviews yet.")
    expect(page.locator(".rating-line")).to_have_text("No reviews yet")


def test_a_second_review_links_to_the_first_and_someone_who_did_not_buy_is_refused(
    tab: Tab, web: Shop
):
    who = web.customer("twice")
    product = new_product(web, "Linen apron")
    bought(web, who, product)
    page = tab.page
    sign_in(page, who)
    page.goto(f"/#/product/{product['id']}")
    fill_review(page, "5", "Second thoughts", "")
    # Meanwhile the same customer reviewed it elsewhere (another tab, the app).
    review_through_the_api(web, who, product, rating=5, title="First thoughts", body="Sturdy.")
    page.get_by_role("button", name="Post review").click()
    expect(page.get_by_role("alert")).to_contain_text("You already reviewed it.")
    page.get_by_role("alert").get_by_role("link", name="Edit your review").click()
    expect(page.get_by_role("heading", name="Edit your review")).to_be_visible()
    expect(page.get_by_label("Title")).to_have_value("First thoughts")

    page.get_by_role("button", name="Sign out").click()
    sign_in(page, web.customer("browser"))
    page.goto(f"/#/product/{product['id']}")
    expect(page.get_by_role("list", name="Reviews").get_by_text("Sturdy.")).to_be_visible()
    fill_review(page, "1", "Never bought it", "")
    page.get_by_role("button", name="Post review").click()
    expect(page.get_by_role("alert")).to_have_text(
        "Only customers who bought this product can review it."
    )


def test_an_admin_hides_a_review_and_it_leaves_the_product_page(tab: Tab, web: Shop):
    who = web.customer("loud")
    product = new_product(web, "Copper pan")
    bought(web, who, product)
    review_through_the_api(web, who, product, rating=1, title="Spam title", body=MARKUP)
    page = tab.page
    sign_in(page, web.admin, "/admin#/signin")
    expect(page.get_by_role("heading", name="Orders", exact=True)).to_be_visible()
    page.get_by_role("link", name="Reviews", exact=True).click()
    page.get_by_role("link", name=f"Reviews of {product['name']}").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Reviews of {product['name']}")
    expect(page.get_by_role("cell", name=MARKUP, exact=True)).to_be_visible()
    assert page.locator('img[src="x"]').count() == 0
    page.get_by_role("button", name="Hide review “Spam title”").click()
    expect(page.get_by_text("Review “Spam title” hidden")).to_be_visible()
    expect(page.get_by_role("cell", name=MARKUP, exact=True)).to_have_count(0)

    page.goto(f"/#/product/{product['id']}")
    expect(page.get_by_role("list", name="Reviews")).to_have_text("No reviews yet.")
    assert tab.dialogs == []
