"""notification on the runner, through the gateway: a registration mails a welcome to the
runner's SMTP sink and shows in the app. It runs on the shared platform (tests/e2e/conftest.py).
"""

from __future__ import annotations

import uuid

import httpx
import pytest

from mercato.runner.mailbox import Mailbox
from tests.e2e.support import RunningPlatform, eventually

pytestmark = pytest.mark.e2e

API = "/api/v1"
PASSWORD = "correct-horse-battery"


def test_a_registration_mails_a_welcome_and_notifies_in_the_app(shop: RunningPlatform) -> None:
    email = f"welcome-{uuid.uuid4().hex[:6]}@example.com"
    with httpx.Client(base_url=shop.url("gateway"), timeout=60) as gateway:
        created = gateway.post(
            f"{API}/auth/register", json={"email": email, "password": PASSWORD, "name": "Wendy"}
        )
        assert created.status_code == 201, created.text
        mailbox = Mailbox.of(shop.data_dir)
        welcome = eventually(
            lambda: next((m for m in mailbox.messages() if m.recipients == email), None),
            what="the welcome in the runner's mailbox",
        )
        assert welcome.subject.startswith("Welcome to ")

        tokens = gateway.post(f"{API}/auth/login", json={"email": email, "password": PASSWORD})
        who = {"Authorization": f"Bearer {tokens.json()['access_token']}"}
        listed = gateway.get(f"{API}/notifications", headers=who)
        assert listed.status_code == 200, listed.text
        assert [n["category"] for n in listed.json()["items"]] == ["account"]
        preferences = gateway.get(f"{API}/notifications/preferences", headers=who)
        assert preferences.json() == {"marketing": True, "orders": True, "account": True}
        assert gateway.get(f"{API}/notifications").status_code == 401
