"""auth against real PostgreSQL and NATS: registration, login, refresh rotation, logout."""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import Harness
from tests.integration.forwarded import sealed

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


async def login(client, email="ada@example.com", password="correct horse battery", address=None):
    headers = sealed(address) if address else {}  # as the gateway forwards it
    return await client.post(
        f"{API}/login", json={"email": email, "password": password}, headers=headers
    )


async def test_wrong_password_is_401_problem(auth):
    await register(auth.client)
    response = await login(auth.client, password="wrong password!")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 401


async def test_repeated_failures_lock_the_account_with_429_and_retry_after(auth):
    await register(auth.client)
    for attempt in range(5):
        failed = await login(auth.client, password=f"wrong password {attempt}")
        assert failed.status_code == 401
    locked = await login(auth.client)  # even the right password waits out the lockout
    assert locked.status_code == 429
    assert locked.headers["content-type"] == "application/problem+json"
    assert 0 < int(locked.headers["retry-after"]) <= 900


async def test_failures_from_one_address_across_accounts_lock_that_address(auth):
    await register(auth.client, email="victim@example.com")
    for n in range(20):
        await login(auth.client, email=f"guess{n}@example.com", address="203.0.113.7")
    blocked = await login(auth.client, email="victim@example.com", address="203.0.113.7")
    assert blocked.status_code == 429
    elsewhere = await login(auth.client, email="victim@example.com", address="198.51.100.1")
    assert elsewhere.status_code == 200


async def test_logout_revokes_the_session(auth):
    await register(auth.client)
    tokens = (await login(auth.client)).json()
    out = await auth.client.post(f"{API}/logout", json={"refresh_token": tokens["refresh_token"]})
    assert out.status_code == 204
    again = await auth.client.post(
        f"{API}/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert again.status_code == 401


async def test_service_credentials_grant_a_service_token(auth, harness):
    from mercato.platform.security import derive_client_secret
    from tests.conftest import TEST_SECRETS

    secret = derive_client_secret(TEST_SECRETS["auth_secret_key"], "order")
    form = await auth.client.post(
        f"{API}/token",
        data={"grant_type": "client_credentials", "client_id": "order", "client_secret": secret},
    )
    assert form.status_code == 200, form.text
    assert form.json()["token_type"] == "Bearer"
    wrong = await auth.client.post(
        f"{API}/token",
        json={"grant_type": "client_credentials", "client_id": "order", "client_secret": "nope"},
    )
    assert wrong.status_code == 401
    stranger = await auth.client.post(
        f"{API}/token",
        json={"grant_type": "client_credentials", "client_id": "nobody", "client_secret": secret},
    )
    assert stranger.status_code == 401
    # The gateway passes its callers' tokens on and never calls with an identity of its own.
    gateway_secret = derive_client_secret(TEST_SECRETS["auth_secret_key"], "gateway")
    gateway = await auth.client.post(
        f"{API}/token",
        json={
            "grant_type": "client_credentials",
            "client_id": "gateway",
            "client_secret": gateway_secret,
        },
    )
    assert gateway.status_code == 401


async def test_jwks_publishes_current_and_previous_key_across_a_rotation(harness):
    auth = await harness.start("auth")
    user = await harness.start("user")
    await register(auth.client)
    old_token = (await login(auth.client)).json()["access_token"]
    before = (await auth.client.get(f"{API}/jwks.json")).json()["keys"]
    assert len(before) == 1

    new_kid = await auth.app.state.keys.rotate()
    after = (await auth.client.get(f"{API}/jwks.json")).json()["keys"]
    assert [k["kid"] for k in after] == [new_kid, before[0]["kid"]]
    assert all(k["alg"] == "EdDSA" and k["kty"] == "OKP" and "d" not in k for k in after)

    new_token = (await login(auth.client)).json()["access_token"]
    # user verifies both: the old kid from its cache, the new one after one refresh.
    for token in (old_token, new_token):
        headers = {"Authorization": f"Bearer {token}"}
        for _ in range(100):  # the profile appears once user.registered is consumed
            response = await user.client.get("/api/v1/users/me", headers=headers)
            if response.status_code != 404:
                break
            await asyncio.sleep(0.1)
        assert response.status_code == 200, response.text

    await auth.app.state.keys.rotate()
    kids = [k["kid"] for k in (await auth.client.get(f"{API}/jwks.json")).json()["keys"]]
    assert len(kids) == 2
    assert before[0]["kid"] not in kids


async def test_an_exhausted_connection_pool_is_503_with_retry_after_not_500(harness):
    auth = await harness.start(
        "auth", db_pool_size=1, db_max_overflow=0, db_pool_timeout_seconds=0.2
    )
    database = auth.app.state.platform.database
    async with database.engine.connect():  # the only pooled connection, held
        response = await login(auth.client)
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"] == "1"
    assert (await register(auth.client)).status_code == 201  # and it recovers
