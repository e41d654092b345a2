"""Identity end to end, through the gateway only, on the runner.

Register, log in, read and edit the profile, upload an avatar through its presigned URL
and read it back, refresh, reuse the old refresh token and see the session revoked, log
out; then restart the platform on the same data dir and log in with the same account.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.support import RunningPlatform, eventually, free_offset, new_data_dir

pytestmark = pytest.mark.e2e

EMAIL = "ada@example.com"
PASSWORD = "correct horse battery"
PICTURE = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def platform() -> Iterator[RunningPlatform]:
    running = RunningPlatform(new_data_dir(), free_offset(), services=["gateway", "auth", "user"])
    running.start()
    try:
        running.wait_running()
        yield running
    finally:
        running.kill()
        shutil.rmtree(running.data_dir.parent, ignore_errors=True)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_identity_flow_through_the_gateway_survives_a_restart(platform: RunningPlatform) -> None:
    gateway = platform.url("gateway")
    with httpx.Client(base_url=gateway, timeout=30) as api:
        created = api.post(
            "/api/v1/auth/register", json={"email": EMAIL, "password": PASSWORD, "name": "Ada"}
        )
        assert created.status_code == 201, created.text
        user_id = created.json()["id"]

        first = api.post("/api/v1/auth/login", json={"email": EMAIL, "password": PASSWORD})
        assert first.status_code == 200, first.text
        tokens = first.json()

        def profile() -> httpx.Response | None:
            response = api.get("/api/v1/users/me", headers=bearer(tokens["access_token"]))
            return None if response.status_code == 404 else response

        me = eventually(profile, what="the profile made from user.registered")
        assert me.status_code == 200, me.text
        assert me.json()["id"] == user_id
        assert me.json()["name"] == "Ada"

        edited = api.patch(
            "/api/v1/users/me",
            json={"name": "Ada Lovelace", "phone": "+442079460000"},
            headers=bearer(tokens["access_token"]),
        )
        assert edited.status_code == 200, edited.text
        assert edited.json()["name"] == "Ada Lovelace"

        grant = api.post(
            "/api/v1/users/me/avatar",
            json={"content_type": "image/png", "size": len(PICTURE)},
            headers=bearer(tokens["access_token"]),
        )
        assert grant.status_code == 200, grant.text
        upload = grant.json()
        stored = httpx.put(upload["upload_url"], content=PICTURE, headers=upload["headers"])
        assert stored.status_code == 200, stored.text
        avatar_url = api.get("/api/v1/users/me", headers=bearer(tokens["access_token"])).json()[
            "avatar_url"
        ]
        assert avatar_url
        assert httpx.get(avatar_url).content == PICTURE

        renewed = api.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
        assert renewed.status_code == 200, renewed.text
        reused = api.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
        assert reused.status_code == 401
        assert reused.headers["content-type"] == PROBLEM
        revoked = api.post(
            "/api/v1/auth/refresh", json={"refresh_token": renewed.json()["refresh_token"]}
        )
        assert revoked.status_code == 401, "reuse must revoke the whole family"

        second = api.post("/api/v1/auth/login", json={"email": EMAIL, "password": PASSWORD}).json()
        logged_out = api.post(
            "/api/v1/auth/logout", json={"refresh_token": second["refresh_token"]}
        )
        assert logged_out.status_code == 204
        after_logout = api.post(
            "/api/v1/auth/refresh", json={"refresh_token": second["refresh_token"]}
        )
        assert after_logout.status_code == 401

    assert platform.stop() == 0
    platform.start().wait_running()
    with httpx.Client(base_url=platform.url("gateway"), timeout=30) as api:
        again = api.post("/api/v1/auth/login", json={"email": EMAIL, "password": PASSWORD})
        assert again.status_code == 200, again.text
        me = api.get("/api/v1/users/me", headers=bearer(again.json()["access_token"]))
        assert me.status_code == 200, me.text
        assert me.json()["name"] == "Ada Lovelace"
        assert httpx.get(me.json()["avatar_url"]).content == PICTURE
