"""Limits on what one client may ask for (OWASP API4): body size, page size, rate, logins."""

from __future__ import annotations

import httpx

from mercato import catalog
from mercato.platform.pagination import MAX_LIMIT
from mercato.platform.security import Audience
from tests.conftest import Harness
from tests.integration.accounts import PASSWORD, customer
from tests.security.platform import Platform

MIB = 1024 * 1024
AUTH = f"{catalog.API_PREFIX}/auth"


def _limit_refused(answer: httpx.Response) -> bool:
    """Whether the answer is a 422 naming ``?limit=``."""
    if answer.status_code != 422:
        return False
    return ["query", "limit"] in [e["loc"] for e in answer.json().get("errors", [])]


def _caller(platform: Platform, audience: Audience) -> dict[str, str]:
    return platform.callers.root if audience is not Audience.PUBLIC else {}


async def test_every_body_over_one_mib_is_refused_with_413(platform: Platform):
    wrong = []
    for route in platform.routes:
        if not route.writes:
            continue
        for name in ("gateway", route.service) if route.through_gateway else (route.service,):
            answer = await platform.client(name).request(
                route.method,
                route.url(),
                content=b"[" + b"1," * (MIB // 2) + b"1]",
                headers={**_caller(platform, route.audience), "Content-Type": "application/json"},
            )
            if answer.status_code != 413:
                wrong.append(f"{route} via {name}: {answer.status_code}")
    assert wrong == []


async def test_every_list_refuses_pages_over_100_items_with_422(platform: Platform):
    lists = [r for r in platform.routes if r.paginated]
    assert lists, "no route takes ?limit="
    wrong = []
    for route in lists:
        caller = _caller(platform, route.audience)
        if route.audience is Audience.CUSTOMER:
            caller = platform.callers.ada
        client = platform.client("gateway" if route.through_gateway else route.service)
        over = await client.get(route.url(), params={"limit": MAX_LIMIT + 1}, headers=caller)
        most = await client.get(route.url(), params={"limit": MAX_LIMIT}, headers=caller)
        # Judged by the errors on ``limit`` alone: a list may require other parameters.
        if not _limit_refused(over) or _limit_refused(most):
            wrong.append(f"{route}: over the most {over.status_code}, the most {most.status_code}")
    assert wrong == []


async def test_a_client_over_its_rate_gets_429_with_retry_after(harness: Harness):
    auth = await harness.start("auth")
    await harness.start("user")
    gateway = await harness.start("gateway", rate_limit_per_second=0.5, rate_limit_burst=3)
    ada = await customer(auth, "ada@example.com")
    # Anonymous callers are counted by address, signed-in ones by who they are.
    for path, headers in ((f"{AUTH}/jwks.json", {}), (f"{catalog.API_PREFIX}/users/me", ada)):
        answers = [await gateway.client.get(path, headers=headers) for _ in range(4)]
        assert [a.status_code for a in answers] == [200, 200, 200, 429], path
        assert int(answers[3].headers["Retry-After"]) >= 1
        assert answers[3].headers["content-type"] == "application/problem+json"


async def test_repeated_failed_logins_lock_the_account_with_429(platform: Platform):
    gateway, auth = platform.gateway.client, platform.running["auth"]
    await customer(auth, "mallory-target@example.com")
    wrong = {"email": "mallory-target@example.com", "password": "not the password"}
    failures = [await gateway.post(f"{AUTH}/login", json=wrong) for _ in range(5)]
    assert {a.status_code for a in failures} == {401}
    locked = await gateway.post(
        f"{AUTH}/login", json={"email": "mallory-target@example.com", "password": PASSWORD}
    )
    assert locked.status_code == 429
    assert int(locked.headers["Retry-After"]) >= 1
