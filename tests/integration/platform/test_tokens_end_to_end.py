"""Token checks end to end: real auth issues and verifies, user verifies from auth's JWKS."""

from __future__ import annotations

import json
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from mercato.platform.errors import PROBLEM_CONTENT_TYPE
from mercato.platform.logging import JsonFormatter
from tests.chassis import captured_logs
from tests.conftest import Harness, RunningService

AUTH = "/api/v1/auth"
PASSWORD = "correct horse battery"


async def sign_up(auth: RunningService, email: str) -> tuple[str, dict[str, str]]:
    created = await auth.client.post(
        f"{AUTH}/register", json={"email": email, "password": PASSWORD, "name": "Ada"}
    )
    assert created.status_code == 201, created.text
    return created.json()["id"], await log_in(auth, email)


async def log_in(auth: RunningService, email: str, password: str = PASSWORD) -> dict[str, str]:
    login = await auth.client.post(f"{AUTH}/login", json={"email": email, "password": password})
    assert login.status_code == 200, login.text
    return login.json()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def set_roles(auth: RunningService, user_id: str, headers: dict[str, str], roles=None):
    return await auth.client.put(
        f"{AUTH}/users/{user_id}/roles", json={"roles": roles or ["customer"]}, headers=headers
    )


@pytest.fixture
async def auth(harness: Harness) -> RunningService:
    return await harness.start("auth")


@pytest.fixture
async def admin(auth: RunningService) -> dict[str, str]:
    await auth.app.state.accounts.create_admin(email="root@example.com", password=PASSWORD)
    return await log_in(auth, "root@example.com")


def assert_unauthorized(response) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == PROBLEM_CONTENT_TYPE
    assert response.headers["www-authenticate"] == "Bearer"


async def test_roles_route_is_401_without_a_token(auth):
    user_id, _ = await sign_up(auth, "ada@example.com")
    assert_unauthorized(await set_roles(auth, user_id, {}))


async def test_roles_route_is_403_for_a_customer(auth):
    user_id, tokens = await sign_up(auth, "ada@example.com")
    response = await set_roles(auth, user_id, bearer(tokens["access_token"]), ["admin"])
    assert response.status_code == 403
    assert response.headers["content-type"] == PROBLEM_CONTENT_TYPE


async def test_roles_route_is_200_for_an_admin(auth, admin):
    user_id, _ = await sign_up(auth, "ada@example.com")
    response = await set_roles(auth, user_id, bearer(admin["access_token"]), ["customer", "admin"])
    assert response.status_code == 200, response.text
    assert sorted(response.json()["roles"]) == ["admin", "customer"]


async def test_a_refresh_token_used_as_bearer_is_401(auth, admin):
    user_id, _ = await sign_up(auth, "ada@example.com")
    assert_unauthorized(await set_roles(auth, user_id, bearer(admin["refresh_token"])))


async def test_a_token_signed_by_a_foreign_key_is_401(auth, admin):
    user_id, _ = await sign_up(auth, "ada@example.com")
    genuine = jwt.decode(admin["access_token"], options={"verify_signature": False})
    header = jwt.get_unverified_header(admin["access_token"])
    # Same claims (admin!), same kid, another key.
    forged = jwt.encode(genuine, Ed25519PrivateKey.generate(), algorithm="EdDSA", headers=header)
    assert_unauthorized(await set_roles(auth, user_id, bearer(forged)))


async def test_a_token_with_alg_none_is_401(auth, admin):
    user_id, _ = await sign_up(auth, "ada@example.com")
    _, payload, _ = admin["access_token"].split(".")
    none_header = jwt.utils.base64url_encode(
        json.dumps({"alg": "none", "typ": "at+jwt", "kid": "x"}).encode()
    ).decode()
    assert_unauthorized(await set_roles(auth, user_id, bearer(f"{none_header}.{payload}.")))


async def test_the_access_line_names_the_authenticated_user(auth, admin):
    user_id, _ = await sign_up(auth, "ada@example.com")
    admin_id = jwt.decode(admin["access_token"], options={"verify_signature": False})["sub"]
    with captured_logs("mercato.access", JsonFormatter("auth")) as logs:
        await set_roles(auth, user_id, bearer(admin["access_token"]))
    line = json.loads(logs.lines[-1])
    assert line["route"] == "/api/v1/auth/users/{user_id}/roles"
    assert line["user_id"] == admin_id


async def test_a_rotation_is_accepted_at_once_by_auth_and_by_user(harness, auth, admin):
    user = await harness.start("user")
    before = admin["access_token"]
    # user learns the current key.
    assert (await user.client.get("/api/v1/users/me", headers=bearer(before))).status_code != 401

    new_kid = await auth.app.state.keys.rotate()
    after = (await log_in(auth, "root@example.com"))["access_token"]
    assert jwt.get_unverified_header(after)["kid"] == new_kid

    target = str(uuid.uuid4())
    for token in (after, before):
        # auth itself: 404 for the unknown user means the token passed.
        assert (await set_roles(auth, target, bearer(token))).status_code == 404
        # user, which reads auth's JWKS over HTTP, sees the new key on first sight.
        me = await user.client.get("/api/v1/users/me", headers=bearer(token))
        assert me.status_code != 401, me.text
