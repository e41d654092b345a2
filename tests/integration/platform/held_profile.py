"""A customer with a profile on the user service, and the row lock that holds its writes."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import asyncpg
from sqlalchemy.engine import make_url

from tests.integration.gateway.test_gateway import PASSWORD

AUTH = "/api/v1/auth"
ME = "/api/v1/users/me"
ADDRESS = {"line1": "1 Rue de Rivoli", "city": "Paris", "postal_code": "75001", "country": "FR"}


async def wait_until(
    what: str, condition: Callable[[], Awaitable[bool]], timeout: float = 30.0
) -> None:
    """Polls ``condition`` until it holds; fails with ``what`` after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await condition():
        assert loop.time() < deadline, what
        await asyncio.sleep(0.05)


async def connect(url: str) -> asyncpg.Connection:
    """A plain asyncpg connection to the database a SQLAlchemy URL names."""
    parsed = make_url(url)
    return await asyncpg.connect(
        host=parsed.host,
        port=parsed.port,
        user=parsed.username,
        password=parsed.password,
        database=parsed.database,
    )


async def customer_with_profile(auth, user) -> dict[str, str]:
    """Registers and signs in a customer; its headers once user shows its profile."""
    await auth.client.post(
        f"{AUTH}/register", json={"email": "ada@example.com", "password": PASSWORD, "name": "A"}
    )
    login = await auth.client.post(
        f"{AUTH}/login", json={"email": "ada@example.com", "password": PASSWORD}
    )
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}

    async def profile_exists() -> bool:
        return (await user.client.get(ME, headers=headers)).status_code == 200

    await wait_until("the profile never appeared", profile_exists)
    return headers
