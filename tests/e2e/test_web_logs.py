"""Logs and the audit trail in the admin console, in a real browser on the shared platform:
an admin searches the gateway's logs, finds the sign-ins in the audit trail and
verifies the trail's hash chain ({valid, checked} shown in words).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.support import eventually
from tests.e2e.web import Shop, Tab, sign_in

pytestmark = pytest.mark.e2e


def test_an_admin_searches_the_logs_and_verifies_the_audit_trail(tab: Tab, web: Shop):
    page = tab.page
    sign_in(page, web.admin, "/admin#/signin")
    expect(page.get_by_role("heading", name="Orders", exact=True)).to_be_visible()

    def shipped() -> list[dict[str, Any]] | None:
        found = web.api.get("/logs", params={"service": "gateway"}, headers=web.admin.headers)
        assert found.status_code == 200, found.text
        return found.json()["items"] or None

    eventually(shipped, what="the gateway's logs to reach the log service")
    page.get_by_role("link", name="Logs").click()
    page.get_by_label("Service").fill("gateway")
    page.get_by_role("button", name="Search logs").click()
    rows = page.get_by_role("row")
    expect(rows.nth(1)).to_contain_text("gateway")
    assert "service=gateway" in page.url

    page.get_by_role("link", name="Audit").click()
    page.get_by_label("Action").fill("auth.login_succeeded")
    page.get_by_role("button", name="Search audit").click()
    expect(page.get_by_role("row").nth(1)).to_contain_text("auth.login_succeeded")
    page.get_by_role("button", name="Verify").click()
    expect(
        page.get_by_text(re.compile(r"Valid: the chain of \d+ records is unbroken\."))
    ).to_be_visible()
    verified = web.api.get("/audit/verify", headers=web.admin.headers).json()
    assert verified["valid"] is True
