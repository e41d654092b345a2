"""user against real PostgreSQL, NATS and S3, with a real auth beside it."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.conftest import Harness

AUTH = "/api/v1/auth"
USERS = "/api/v1/users"
PASSWORD = "correct horse battery"


@pytest.fixture
async def services(harness: Harness):
    auth = await harness.start("auth")
    user = await harness.start("user")
    return auth, user


async def sign_up(auth, email: str, name: str = "Ada") -> dict[str, str]:
    created = await auth.client.post(
        f"{AUTH}/register", json={"email": email, "password": PASSWORD, "name": name}
    )
    assert created.status_code == 201, created.text
    tokens = (
        await auth.client.post(f"{AUTH}/login", json={"email": email, "password": PASSWORD})
    ).json()
    return {"Authorization": f"Bearer {tokens['access_token']}", "id": created.json()["id"]}


async def my_profile(user, headers, *, attempts: int = 100) -> httpx.Response:
    """GET /me, waiting for the registration event to create the profile."""
    for _ in range(attempts):
        response = await user.client.get(f"{USERS}/me", headers=headers)
        if response.status_code != 404:
            return response
        await asyncio.sleep(0.1)
    return response


async def test_registration_creates_a_profile(services):
    auth, user = services
    who = await sign_up(auth, "ada@example.com", name="Ada Lovelace")
    headers = {"Authorization": who["Authorization"]}
    profile = await my_profile(user, headers)
    assert profile.status_code == 200, profile.text
    assert profile.json()["id"] == who["id"]
    assert profile.json()["name"] == "Ada Lovelace"
    assert profile.json()["email"] == "ada@example.com"
    assert profile.json()["addresses"] == []
    assert profile.json()["avatar_url"] is None


async def test_profile_edits_and_addresses(services):
    auth, user = services
    headers = {"Authorization": (await sign_up(auth, "grace@example.com"))["Authorization"]}
    await my_profile(user, headers)
    patched = await user.client.patch(
        f"{USERS}/me", json={"name": "Grace Hopper", "phone": "+14155550100"}, headers=headers
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["phone"] == "+14155550100"

    bad = await user.client.patch(f"{USERS}/me", json={"phone": "call me"}, headers=headers)
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["loc"][-1] == "phone"

    address = {"line1": "1 Main St", "city": "Arlington", "postal_code": "22201", "country": "us"}
    added = await user.client.post(f"{USERS}/me/addresses", json=address, headers=headers)
    assert added.status_code == 201, added.text
    assert added.json()["country"] == "US"
    profile = (await user.client.get(f"{USERS}/me", headers=headers)).json()
    assert [a["id"] for a in profile["addresses"]] == [added.json()["id"]]

    removed = await user.client.delete(
        f"{USERS}/me/addresses/{added.json()['id']}", headers=headers
    )
    assert removed.status_code == 204
    assert (await user.client.get(f"{USERS}/me", headers=headers)).json()["addresses"] == []


async def test_another_users_address_is_not_found(services):
    auth, user = services
    alice = {"Authorization": (await sign_up(auth, "alice@example.com"))["Authorization"]}
    mallory = {"Authorization": (await sign_up(auth, "mallory@example.com"))["Authorization"]}
    await my_profile(user, alice)
    await my_profile(user, mallory)
    address = {"line1": "2 Side St", "city": "Paris", "postal_code": "75001", "country": "FR"}
    added = (await user.client.post(f"{USERS}/me/addresses", json=address, headers=alice)).json()
    stolen = await user.client.delete(f"{USERS}/me/addresses/{added['id']}", headers=mallory)
    assert stolen.status_code == 404
    assert stolen.headers["content-type"] == "application/problem+json"


async def test_avatar_upload_through_a_presigned_url(services):
    auth, user = services
    headers = {"Authorization": (await sign_up(auth, "linus@example.com"))["Authorization"]}
    await my_profile(user, headers)
    picture = b"\x89PNG\r\n\x1a\n" + b"\x00" * 120

    too_big = await user.client.post(
        f"{USERS}/me/avatar",
        json={"content_type": "image/png", "size": 50_000_000},
        headers=headers,
    )
    assert too_big.status_code == 422
    wrong_type = await user.client.post(
        f"{USERS}/me/avatar", json={"content_type": "text/html", "size": 10}, headers=headers
    )
    assert wrong_type.status_code == 422

    grant = await user.client.post(
        f"{USERS}/me/avatar",
        json={"content_type": "image/png", "size": len(picture)},
        headers=headers,
    )
    assert grant.status_code == 200, grant.text
    upload = grant.json()
    async with httpx.AsyncClient() as s3:
        refused = await s3.put(
            upload["upload_url"], content=picture + b"extra", headers={"Content-Type": "image/png"}
        )
        assert refused.status_code == 403
        stored = await s3.put(upload["upload_url"], content=picture, headers=upload["headers"])
        assert stored.status_code == 200, stored.text
        profile = (await user.client.get(f"{USERS}/me", headers=headers)).json()
        assert profile["avatar_url"]
        downloaded = await s3.get(profile["avatar_url"])
        assert downloaded.status_code == 200
        assert downloaded.content == picture


async def test_profiles_listing_is_for_admins(services, harness):
    auth, user = services
    customer = await sign_up(auth, "cust@example.com")
    headers = {"Authorization": customer["Authorization"]}
    await my_profile(user, headers)
    assert (await user.client.get(USERS, headers=headers)).status_code == 403
    assert (await user.client.get(USERS)).status_code == 401

    await auth.app.state.accounts.create_admin(email="root@example.com", password=PASSWORD)
    tokens = (
        await auth.client.post(
            f"{AUTH}/login", json={"email": "root@example.com", "password": PASSWORD}
        )
    ).json()
    admin = {"Authorization": f"Bearer {tokens['access_token']}"}
    await my_profile(user, admin)
    first = await user.client.get(USERS, params={"limit": 1}, headers=admin)
    assert first.status_code == 200, first.text
    assert len(first.json()["items"]) == 1
    second = await user.client.get(
        USERS, params={"limit": 1, "cursor": first.json()["next_cursor"]}, headers=admin
    )
    assert second.status_code == 200
    ids = {first.json()["items"][0]["id"], second.json()["items"][0]["id"]}
    assert len(ids) == 2
    assert (
        await user.client.get(USERS, params={"cursor": "garbage!"}, headers=admin)
    ).status_code == 422
    one = await user.client.get(f"{USERS}/{customer['id']}", headers=admin)
    assert one.status_code == 200
    assert one.json()["email"] == "cust@example.com"


async def test_a_redelivered_registration_creates_nothing_twice(harness):
    import uuid

    import nats
    import orjson
    from sqlalchemy import text

    from mercato.contracts.auth import UserRegistered
    from mercato.platform.events import subject_for

    user = await harness.start("user")
    user_id = uuid.uuid4()
    envelope = {
        "id": str(uuid.uuid4()),
        "type": "user.registered",
        "source": "auth",
        "time": "2026-11-26T00:00:00+00:00",
        "subject": str(user_id),
        "data": UserRegistered(
            user_id=user_id, email="twice@example.com", name="Twice", roles=["customer"]
        ).model_dump(mode="json"),
        "schema_version": 1,
    }
    nc = await nats.connect(harness.engines.nats_url)
    js = nc.jetstream()
    subject = subject_for(harness.prefix, "user.registered")
    # The same event three times, each with its own message id so the broker's dedup
    # window cannot hide it: only the inbox stands between it and a second profile.
    for _ in range(3):
        await js.publish(subject, orjson.dumps(envelope), headers={"Nats-Msg-Id": uuid.uuid4().hex})
    # And a different event about the same user: the insert itself is idempotent.
    await js.publish(
        subject,
        orjson.dumps({**envelope, "id": str(uuid.uuid4())}),
        headers={"Nats-Msg-Id": uuid.uuid4().hex},
    )
    await nc.close()

    database = user.app.state.platform.database
    for _ in range(100):
        async with database.sessionmaker() as session:
            inbox = await session.scalar(text("SELECT count(*) FROM inbox"))
        if inbox == 2:
            break
        await asyncio.sleep(0.1)
    async with database.sessionmaker() as session:
        profiles = await session.scalar(text("SELECT count(*) FROM profiles"))
        inbox = await session.scalar(text("SELECT count(*) FROM inbox"))
    assert inbox == 2
    assert profiles == 1
