"""auth against real PostgreSQL and NATS: registration, login, refresh rotation, logout."""

from __future__ import annotations

import pytest

from tests.conftest import Harness

API = "/api/v1/auth"


@pytest.fixture
async def auth(harness: Harness):
    return await harness.start("auth")


async def register(client, email="ada@example.com", password="correct horse battery", name="Ada"):
    return await client.post(
        f"{API}/register", json={"email": email, "password": password, "name": name}
    )


async def test_register_then_login_returns_a_token_pair(auth):
    created = await register(auth.client)
    assert created.status_code == 201, created.text
    assert created.json()["email"] == "ada@example.com"
    assert created.json()["roles"] == ["customer"]

    login = await auth.client.post(
        f"{API}/login", json={"email": "ADA@example.com", "password": "correct horse battery"}
    )
    assert login.status_code == 200, login.text
    body = login.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] > 0
    assert body["access_token"].count(".") == 2
    assert body["refresh_token"]


async def test_registering_a_taken_email_is_a_conflict(auth):
    await register(auth.client)
    again = await register(auth.client)
    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"


async def test_reused_refresh_token_revokes_the_whole_family(auth):
    await register(auth.client)
    first = (
        await auth.client.post(
            f"{API}/login", json={"email": "ada@example.com", "password": "correct horse battery"}
        )
    ).json()
    second = await auth.client.post(
        f"{API}/refresh", json={"refresh_token": first["refresh_token"]}
    )
    assert second.status_code == 200
    reused = await auth.client.post(
        f"{API}/refresh", json={"refresh_token": first["refresh_token"]}
    )
    assert reused.status_code == 401
    # The legitimate successor died with its family.
    successor = await auth.client.post(
        f"{API}/refresh", json={"refresh_token": second.json()["refresh_token"]}
    )
    assert successor.status_code == 401
