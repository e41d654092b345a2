"""Accounts, tokens and events for the commerce tests: customers, administrators, services."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import nats
import orjson
from sqlalchemy import text

from mercato.platform.events import subject_for
from mercato.platform.security import derive_client_secret
from tests.conftest import TEST_SECRETS, Harness, RunningService

AUTH = "/api/v1/auth"
PASSWORD = "correct horse battery"


def bearer(token: str) -> dict[str, str]:
    """The Authorization header for ``token``."""
    return {"Authorization": f"Bearer {token}"}


async def customer(auth: RunningService, email: str = "cust@example.com") -> dict[str, str]:
    """Registers a customer and returns their Authorization header."""
    created = await auth.client.post(
        f"{AUTH}/register", json={"email": email, "password": PASSWORD, "name": "Customer"}
    )
    assert created.status_code == 201, created.text
    return await login(auth, email)


async def admin(auth: RunningService, email: str = "root@example.com") -> dict[str, str]:
    """Creates an administrator (as ``mercato admin create`` does) and logs them in."""
    await auth.app.state.accounts.create_admin(email=email, password=PASSWORD)
    return await login(auth, email)


async def login(auth: RunningService, email: str) -> dict[str, str]:
    """Logs ``email`` in; their Authorization header."""
    tokens = await auth.client.post(f"{AUTH}/login", json={"email": email, "password": PASSWORD})
    assert tokens.status_code == 200, tokens.text
    return bearer(tokens.json()["access_token"])


async def service(auth: RunningService, name: str) -> dict[str, str]:
    """A client-credentials token of service ``name``, as its Authorization header."""
    grant = await auth.client.post(
        f"{AUTH}/token",
        json={
            "grant_type": "client_credentials",
            "client_id": name,
            "client_secret": derive_client_secret(TEST_SECRETS["auth_secret_key"], name),
        },
    )
    assert grant.status_code == 200, grant.text
    return bearer(grant.json()["access_token"])


def signed_service_token(auth: RunningService, name: str) -> dict[str, str]:
    """A valid service token for ``name`` signed by auth's key, even if auth would not
    grant ``name`` one: to prove the receiving service checks the caller itself."""
    import time
    import uuid

    settings = auth.settings
    now = int(time.time())
    token = auth.app.state.keys.sign(
        {
            "iss": settings.jwt_issuer,
            "aud": settings.jwt_audience,
            "sub": f"service:{name}",
            "roles": ["service"],
            "iat": now,
            "nbf": now,
            "exp": now + 300,
            "jti": uuid.uuid4().hex,
        }
    )
    return bearer(token)


async def publish_events(harness: Harness, envelopes: list[dict[str, Any]]) -> None:
    """Publishes event envelopes on this test's stream, each as a distinct message.

    Each message gets its own ``Nats-Msg-Id``, so the broker's dedup window cannot hide a
    redelivery: only the consumer's inbox stands between it and a second effect.
    """
    nc = await nats.connect(harness.engines.nats_url)
    try:
        js = nc.jetstream()
        for envelope in envelopes:
            await js.publish(
                subject_for(harness.prefix, envelope["type"]),
                orjson.dumps(envelope),
                headers={"Nats-Msg-Id": uuid.uuid4().hex},
            )
    finally:
        await nc.close()


def envelope(
    event_type: str, data: dict[str, Any], *, event_id: str | None = None
) -> dict[str, Any]:
    """An event envelope as producers write it."""
    return {
        "id": event_id or str(uuid.uuid4()),
        "type": event_type,
        "source": event_type.split(".")[0],
        "time": "2026-11-26T00:00:00+00:00",
        "subject": str(data.get("product_id", "")),
        "data": data,
        "schema_version": 1,
    }


async def scalar(running: RunningService, sql: str, **params: Any) -> Any:
    """One value read from the service's own database."""
    database = running.app.state.platform.database
    async with database.sessionmaker() as session:
        return await session.scalar(text(sql), params)


async def wait_for(running: RunningService, sql: str, expected: Any, **params: Any) -> Any:
    """Polls ``sql`` on the service's database until it returns ``expected`` (or gives up)."""
    value = None
    for _ in range(200):
        value = await scalar(running, sql, **params)
        if value == expected:
            break
        await asyncio.sleep(0.05)
    return value
