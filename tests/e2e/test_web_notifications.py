"""Notifications on the storefront's account page, in a real browser on the shared platform:
a customer who registered and bought sees the welcome and the order's notification, newest
first, marks one read, and turns an email category off (kept after a reload).
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.support import eventually
from tests.e2e.web import Shop, Tab, sign_in

pytestmark = pytest.mark.e2e


def test_a_customer_reads_their_notifications_and_turns_offers_off(tab: Tab, web: Shop):
    who = web.customer("notified")
    web.confirmed_order(who)

    def both_arrived() -> list[dict[str, Any]] | None:
        listed = web.api.get("/notifications", headers=who.headers)
        assert listed.status_code == 200, listed.text
        items: list[dict[str, Any]] = listed.json()["items"]
        return items if len(items) >= 2 else None

    newest, welcome = eventually(both_arrived, what="the welcome and the order's notification")
    assert welcome["title"].startswith("Welcome to")

    page = tab.page
    sign_in(page, who)
    page.goto("/#/account")
    listed = page.get_by_role("list", name="Notifications").get_by_role("listitem")
    expect(listed).to_have_count(2)
    expect(listed.nth(0)).to_contain_text(newest["title"])
    expect(listed.nth(1)).to_contain_text(welcome["title"])

    page.get_by_role("button", name=f"Mark “{newest['title']}” read").click()
    expect(page.get_by_role("button", name=f"Mark “{newest['title']}” read")).to_have_count(0)
    expect(page.get_by_role("button", name=f"Mark “{welcome['title']}” read")).to_be_visible()
    read = {
        n["id"]: n["read_at"]
        for n in web.api.get("/notifications", headers=who.headers).json()["items"]
    }
    assert read[newest["id"]] is not None
    assert read[welcome["id"]] is None

    expect(page.get_by_label("Offers and news")).to_be_checked()
    page.get_by_label("Offers and news").uncheck()
    page.get_by_role("button", name="Save preferences").click()
    expect(page.get_by_text("Preferences saved.")).to_be_visible()
    preferences = web.api.get("/notifications/preferences", headers=who.headers).json()
    assert (preferences["marketing"], preferences["orders"], preferences["account"]) == (
        False,
        True,
        True,
    )
    page.reload()
    expect(page.get_by_label("Offers and news")).not_to_be_checked()
    expect(page.get_by_label("Order updates")).to_be_checked()
