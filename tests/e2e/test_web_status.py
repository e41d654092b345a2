"""The live status of every service in the admin console, in a real browser on the shared
platform: each service of the catalog is listed with its state, as health answers it.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from mercato.catalog import SERVICES
from tests.e2e.web import Shop, Tab, sign_in

pytestmark = pytest.mark.e2e


def test_an_admin_sees_the_state_of_every_service(tab: Tab, web: Shop):
    page = tab.page
    sign_in(page, web.admin, "/admin#/signin")
    expect(page.get_by_role("heading", name="Orders", exact=True)).to_be_visible()
    page.get_by_role("link", name="Status").click()
    services = page.get_by_role("table", name="Services")
    expect(page.get_by_text("Overall:")).to_be_visible()
    answered = web.api.get("/status").json()
    for service in answered["services"]:
        expect(services.get_by_role("row", name=service["name"], exact=False).first).to_be_visible()
    listed = {s["name"] for s in answered["services"]}
    assert listed >= set(SERVICES) - {"health"}, listed
