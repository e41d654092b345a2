"""The gateway in front of real auth and user services."""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import Harness

AUTH = "/api/v1/auth"
USERS = "/api/v1/users"
PASSWORD = "correct horse battery"
PROBLEM = "application/problem+json"


async def sign_up_and_login(gateway, email: str) -> dict[str, str]:
    created = await gateway.client.post(
        f"{AUTH}/register", json={"email": email, "password": PASSWORD, "name": "Ada"}
    )
    assert created.status_code == 201, created.text
    login = await gateway.client.post(f"{AUTH}/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 200, login.text
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


@pytest.fixture
async def platform(harness: Harness):
    await harness.start("auth")
    await harness.start("user")
    return await harness.start("gateway")


async def test_routes_by_catalog_prefix_and_passes_the_token_on(platform):
    headers = await sign_up_and_login(platform, "ada@example.com")
    for _ in range(100):
        me = await platform.client.get(f"{USERS}/me", headers=headers)
        if me.status_code != 404:
            break
        await asyncio.sleep(0.1)
    assert me.status_code == 200, me.text
    assert me.json()["email"] == "ada@example.com"


async def test_protected_route_without_token_is_401_at_the_edge(platform):
    response = await platform.client.get(f"{USERS}/me")
    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["www-authenticate"] == "Bearer"


async def test_forged_token_is_401_at_the_edge(platform):
    response = await platform.client.get(
        f"{USERS}/me", headers={"Authorization": "Bearer eyJhbGciOiJub25lIn0.e30."}
    )
    assert response.status_code == 401


async def test_unknown_api_path_is_404(platform):
    response = await platform.client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM


async def test_malformed_json_is_400_and_invalid_fields_422(platform):
    malformed = await platform.client.post(
        f"{AUTH}/register", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert malformed.status_code == 400
    assert malformed.headers["content-type"] == PROBLEM
    invalid = await platform.client.post(
        f"{AUTH}/register", json={"email": "not-an-email", "password": "x", "name": ""}
    )
    assert invalid.status_code == 422
    assert {tuple(e["loc"])[-1] for e in invalid.json()["errors"]} >= {"email", "password", "name"}


async def test_body_over_the_limit_is_413(platform):
    response = await platform.client.post(
        f"{AUTH}/register",
        content=b"x" * (1024 * 1024 + 1),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM


async def test_request_id_is_echoed_and_generated(platform):
    echoed = await platform.client.get(f"{AUTH}/jwks.json", headers={"X-Request-ID": "abc-123"})
    assert echoed.headers["x-request-id"] == "abc-123"
    generated = await platform.client.get(f"{AUTH}/jwks.json", headers={"X-Request-ID": "bad id!"})
    assert generated.headers["x-request-id"] != "bad id!"
    assert len(generated.headers["x-request-id"]) == 32
    assert generated.headers.get_list("x-request-id") == [generated.headers["x-request-id"]]


async def test_upstream_down_is_503(harness: Harness):
    await harness.start("auth")
    gateway = await harness.start("gateway")  # user is not running
    headers = await sign_up_and_login(gateway, "ada@example.com")
    response = await gateway.client.get(f"{USERS}/me", headers=headers)
    assert response.status_code == 503
    assert response.headers["content-type"] == PROBLEM


async def test_upstream_too_slow_is_504(harness: Harness):
    await harness.start("auth")
    # Registration hashes a password with argon2id: far slower than 5 ms.
    gateway = await harness.start("gateway", upstream_timeout_seconds=0.005)
    response = await gateway.client.post(
        f"{AUTH}/register", json={"email": "ada@example.com", "password": PASSWORD, "name": "A"}
    )
    assert response.status_code == 504
    assert response.headers["content-type"] == PROBLEM


async def test_clients_over_their_rate_get_429_with_retry_after(harness: Harness):
    await harness.start("auth")
    gateway = await harness.start("gateway", rate_limit_per_second=0.5, rate_limit_burst=3)
    statuses = [(await gateway.client.get(f"{AUTH}/jwks.json")).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    limited = await gateway.client.get(f"{AUTH}/jwks.json")
    assert limited.headers["content-type"] == PROBLEM
    assert int(limited.headers["retry-after"]) >= 1


async def test_merged_openapi_lists_every_public_service(platform):
    document = (await platform.client.get("/openapi.json")).json()
    assert f"{AUTH}/register" in document["paths"]
    assert f"{USERS}/me" in document["paths"]
    assert {t["name"] for t in document["tags"]} >= {"auth", "user"}
    docs = await platform.client.get("/docs")
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()


async def test_cors_preflight_is_answered_for_allowed_origins(harness: Harness):
    await harness.start("auth")
    gateway = await harness.start("gateway", cors_origins=["https://shop.example"])
    response = await gateway.client.options(
        f"{AUTH}/login",
        headers={"Origin": "https://shop.example", "Access-Control-Request-Method": "POST"},
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "https://shop.example"
    refused = await gateway.client.options(
        f"{AUTH}/login",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in refused.headers
