"""The client's address is decided once, by the gateway; a forged X-Forwarded-For changes nothing.

Every caller here is on 127.0.0.1, like every client of the local platform and like any
service-mesh sidecar in Kubernetes. With ``trusted_proxy_hops=1`` the test plays the ALB:
it sends the header an ALB would pass on, the client's own forgeries followed by the
address the ALB saw.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from mercato.platform.forwarding import FORWARDED_FOR
from mercato.services.auth.models import LoginThrottle
from tests.conftest import Harness, RunningService
from tests.integration.forwarded import sealed

AUTH = "/api/v1/auth"
LOGIN = f"{AUTH}/login"
JWKS = f"{AUTH}/jwks.json"
PASSWORD = "correct horse battery"
PER_ADDRESS_LIMIT = 6
ALB_SAW = "198.51.100.23"  # the address an ALB in front of the gateway appends
ALB_SAW_ANOTHER = "198.51.100.24"


def forged(n: int) -> str:
    return f"10.1.{n}.1"


def as_sent(forgery: str, *, trusted_proxy_hops: int, alb_saw: str = ALB_SAW) -> dict[str, str]:
    """The X-Forwarded-For the gateway receives from a client that wrote ``forgery``."""
    if trusted_proxy_hops == 0:
        return {"X-Forwarded-For": forgery}
    return {"X-Forwarded-For": f"{forgery}, {alb_saw}"}


def real_address(trusted_proxy_hops: int) -> str:
    return "127.0.0.1" if trusted_proxy_hops == 0 else ALB_SAW


async def throttled_addresses(auth: RunningService) -> set[str]:
    """The client addresses auth's login throttle has counted failures for."""
    async with auth.app.state.platform.database.sessionmaker() as session:
        keys = (await session.scalars(select(LoginThrottle.key))).all()
    return {key.removeprefix("address:") for key in keys if key.startswith("address:")}


async def failed_logins(client, count: int, headers_for) -> list[int]:
    """Statuses of ``count`` wrong passwords, each for another account."""
    statuses = []
    for n in range(count):
        response = await client.post(
            LOGIN,
            json={"email": f"guess{n}@example.com", "password": "not the password"},
            headers=headers_for(n),
        )
        statuses.append(response.status_code)
    return statuses


async def register(client, email: str) -> None:
    created = await client.post(
        f"{AUTH}/register", json={"email": email, "password": PASSWORD, "name": "Ada"}
    )
    assert created.status_code == 201, created.text


@pytest.mark.parametrize("trusted_proxy_hops", [0, 1])
async def test_forty_logins_with_forty_forged_addresses_are_cut_off_at_the_address_limit(
    harness: Harness, trusted_proxy_hops: int
):
    auth = await harness.start("auth", login_max_failures_per_address=PER_ADDRESS_LIMIT)
    gateway = await harness.start(
        "gateway", trusted_proxy_hops=trusted_proxy_hops, rate_limit_per_second=0
    )

    statuses = await failed_logins(
        gateway.client, 40, lambda n: as_sent(forged(n), trusted_proxy_hops=trusted_proxy_hops)
    )

    assert statuses == [401] * PER_ADDRESS_LIMIT + [429] * (40 - PER_ADDRESS_LIMIT)
    assert await throttled_addresses(auth) == {real_address(trusted_proxy_hops)}


async def test_behind_an_alb_auth_tells_clients_apart_by_the_address_the_alb_saw(
    harness: Harness,
):
    auth = await harness.start("auth", login_max_failures_per_address=PER_ADDRESS_LIMIT)
    gateway = await harness.start("gateway", trusted_proxy_hops=1, rate_limit_per_second=0)
    await register(gateway.client, "ada@example.com")
    await failed_logins(
        gateway.client, PER_ADDRESS_LIMIT, lambda n: as_sent(forged(n), trusted_proxy_hops=1)
    )

    def login_from(alb_saw: str):
        return gateway.client.post(
            LOGIN,
            json={"email": "ada@example.com", "password": PASSWORD},
            headers=as_sent("10.9.9.9", trusted_proxy_hops=1, alb_saw=alb_saw),
        )

    assert (await login_from(ALB_SAW)).status_code == 429
    assert (await login_from(ALB_SAW_ANOTHER)).status_code == 200
    assert await throttled_addresses(auth) == {ALB_SAW}


@pytest.mark.parametrize("trusted_proxy_hops", [0, 1])
async def test_forged_addresses_share_the_gateway_rate_limit_of_the_real_one(
    harness: Harness, trusted_proxy_hops: int
):
    await harness.start("auth")
    gateway = await harness.start(
        "gateway",
        trusted_proxy_hops=trusted_proxy_hops,
        rate_limit_per_second=0.01,
        rate_limit_burst=3,
    )

    statuses = [
        (
            await gateway.client.get(
                JWKS, headers=as_sent(forged(n), trusted_proxy_hops=trusted_proxy_hops)
            )
        ).status_code
        for n in range(5)
    ]

    assert statuses == [200, 200, 200, 429, 429]
    if trusted_proxy_hops == 1:  # another client behind the same ALB keeps its own bucket
        other = await gateway.client.get(
            JWKS, headers=as_sent(forged(0), trusted_proxy_hops=1, alb_saw=ALB_SAW_ANOTHER)
        )
        assert other.status_code == 200


async def test_a_seal_sent_by_the_client_is_dropped_by_the_gateway(harness: Harness):
    auth = await harness.start("auth", login_max_failures_per_address=PER_ADDRESS_LIMIT)
    gateway = await harness.start("gateway", rate_limit_per_second=0)

    # Even a genuine seal, leaked somehow, is replaced by the gateway's own.
    statuses = await failed_logins(
        gateway.client, PER_ADDRESS_LIMIT + 1, lambda n: sealed(forged(n))
    )

    assert statuses == [401] * PER_ADDRESS_LIMIT + [429]
    assert await throttled_addresses(auth) == {"127.0.0.1"}


async def test_a_gateway_without_its_client_secret_leaves_services_its_own_address(
    harness: Harness,
):
    auth = await harness.start("auth", login_max_failures_per_address=PER_ADDRESS_LIMIT)
    gateway = await harness.start(
        "gateway", trusted_proxy_hops=1, rate_limit_per_second=0, client_secret=None
    )

    await failed_logins(gateway.client, 3, lambda n: as_sent(forged(n), trusted_proxy_hops=1))

    assert await throttled_addresses(auth) == {"127.0.0.1"}


async def test_a_service_reached_directly_ignores_forwarded_for_and_uses_its_socket_peer(
    harness: Harness,
):
    auth = await harness.start("auth", login_max_failures_per_address=PER_ADDRESS_LIMIT)
    wrong_key = "another-auth-secret-key-0123456789"
    forgeries = [
        lambda n: {"X-Forwarded-For": forged(n)},
        lambda n: {"X-Forwarded-For": f"{forged(n)}, {forged(n + 1)}"},
        # A seal made with another key, and a genuine seal for another address.
        lambda n: sealed(forged(n), master=wrong_key),
        lambda n: {**sealed("203.0.113.9"), FORWARDED_FOR: forged(n)},
    ]

    statuses = await failed_logins(auth.client, 40, lambda n: forgeries[n % len(forgeries)](n))

    assert statuses == [401] * PER_ADDRESS_LIMIT + [429] * (40 - PER_ADDRESS_LIMIT)
    assert await throttled_addresses(auth) == {"127.0.0.1"}


async def test_a_service_believes_the_address_the_gateway_sealed(harness: Harness):
    auth = await harness.start("auth", login_max_failures_per_address=PER_ADDRESS_LIMIT)

    await failed_logins(auth.client, 2, lambda n: sealed("203.0.113.9"))

    assert await throttled_addresses(auth) == {"203.0.113.9"}


async def test_the_gateway_process_keys_on_its_socket_peer_not_on_forwarded_for(
    harness: Harness,
):
    # The server entry point as `make run` and the container start it (issue 14's setup).
    auth = await harness.start("auth", login_max_failures_per_address=PER_ADDRESS_LIMIT)
    gateway = await harness.spawn("gateway", rate_limit_per_second=0)

    statuses = await failed_logins(
        gateway.client, PER_ADDRESS_LIMIT + 4, lambda n: {"X-Forwarded-For": forged(n)}
    )

    assert statuses == [401] * PER_ADDRESS_LIMIT + [429] * 4
    assert await throttled_addresses(auth) == {"127.0.0.1"}
