"""A service that is restarting loses no idempotent request: the gateway tries again.

The user service is stopped when the request reaches the gateway (connections are
refused, as during a restart) and starts again, on the same database, while the request
waits at the gateway.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from mercato.platform.settings import ServiceSettings
from tests.conftest import Harness, RunningService
from tests.integration.gateway.test_gateway import USERS, sign_up_and_login

ADDRESS = {"line1": "1 Rue de Rivoli", "city": "Paris", "postal_code": "75001", "country": "FR"}
CALLS = "mercato_http_client_requests_total{"


@dataclass
class Shop:
    """A gateway, a signed-in customer, and the settings of the stopped user service."""

    harness: Harness
    gateway: RunningService
    headers: dict[str, str]
    user: ServiceSettings

    async def refused_calls(self) -> float:
        """How many calls the gateway found the user service unreachable for."""
        text = (await self.gateway.client.get("/metrics")).text
        return sum(
            float(line.split()[-1])
            for line in text.splitlines()
            if line.startswith(CALLS)
            and 'upstream="user"' in line
            and 'status="unreachable"' in line
        )

    async def restart_user_once_refused(self) -> None:
        """Starts the user service again after the gateway found it refusing connections."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while await self.refused_calls() == 0:
            assert loop.time() < deadline, "the gateway never tried the user service"
            await asyncio.sleep(0.02)
        await self.harness.serve("user", self.user)


async def shop_with_user_stopped(harness: Harness) -> Shop:
    """A customer whose profile exists on a user service now stopped."""
    await harness.start("auth")
    user = await harness.start("user")
    gateway = await harness.start("gateway")
    headers = await sign_up_and_login(gateway, "ada@example.com")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    # The profile comes with auth's event; wait for it so the answers below are certain.
    while (await gateway.client.get(f"{USERS}/me", headers=headers)).status_code != 200:
        assert loop.time() < deadline, "the profile never appeared"
        await asyncio.sleep(0.05)
    await harness.stop("user")
    return Shop(harness, gateway, headers, user.settings)


async def test_a_read_sent_while_its_service_restarts_is_answered(harness: Harness):
    shop = await shop_with_user_stopped(harness)

    response, _ = await asyncio.gather(
        shop.gateway.client.get(f"{USERS}/me", headers=shop.headers),
        shop.restart_user_once_refused(),
    )

    assert response.status_code == 200, response.text
    assert response.json()["email"] == "ada@example.com"


async def test_a_post_with_an_idempotency_key_sent_while_its_service_restarts_is_answered(
    harness: Harness,
):
    shop = await shop_with_user_stopped(harness)

    response, _ = await asyncio.gather(
        shop.gateway.client.post(
            f"{USERS}/me/addresses",
            json=ADDRESS,
            headers={**shop.headers, "Idempotency-Key": "address-1"},
        ),
        shop.restart_user_once_refused(),
    )

    assert response.status_code == 201, response.text


async def test_a_post_without_an_idempotency_key_is_not_sent_twice(harness: Harness):
    shop = await shop_with_user_stopped(harness)

    response = await shop.gateway.client.post(
        f"{USERS}/me/addresses", json=ADDRESS, headers=shop.headers
    )

    assert response.status_code == 503
    assert await shop.refused_calls() == 1
