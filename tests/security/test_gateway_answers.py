"""What every answer of the gateway carries and what no error answer gives away (API8)."""

from __future__ import annotations

import httpx

from mercato.platform.middleware import SECURITY_HEADERS
from mercato.platform.security import Audience
from tests.security.platform import Platform, leaks
from tests.security.routes import example_body

EXPECTED = {name.decode(): value.decode() for name, value in SECURITY_HEADERS}


def _missing_headers(answer: httpx.Response) -> dict[str, str | None]:
    return {
        name: answer.headers.get(name)
        for name, value in EXPECTED.items()
        if answer.headers.get(name) != value
    }


async def test_every_gateway_answer_carries_the_security_headers(platform: Platform):
    gateway = platform.gateway.client
    answers = [
        await gateway.get("/health"),
        await gateway.get("/openapi.json"),
        await gateway.get("/api/v1/nowhere"),  # 404 of the gateway itself
        await gateway.post("/api/v1/auth/login", content=b"{not json"),  # 400 from auth
        await gateway.post("/api/v1/auth/login", content=b"x" * (2 * 1024 * 1024)),  # 413
    ]
    for route in platform.routes:
        if route.through_gateway:
            body = example_body(route.body) if route.body is not None else None
            answers.append(
                await gateway.request(
                    route.method, route.url(), json=body, headers=platform.callers.ada
                )
            )
    wrong = {
        f"{a.request.method} {a.request.url.path} {a.status_code}": _missing_headers(a)
        for a in answers
        if _missing_headers(a)
    }
    assert wrong == {}
    assert {a.status_code for a in answers} >= {200, 400, 401, 403, 404, 413}


async def test_answers_with_no_cache_policy_of_their_own_are_not_stored(platform: Platform):
    me = await platform.gateway.client.get("/api/v1/users/me", headers=platform.callers.ada)
    assert me.status_code == 200
    assert me.headers["cache-control"] == "no-store"


def test_the_leak_check_sees_a_stack_trace_sql_and_an_internal_host():
    """The control of the check every test in this package runs on its error answers."""
    request = httpx.Request("GET", "http://127.0.0.1/x")
    for body in (
        'Traceback (most recent call last):\n  File "/app/x.py", line 1',
        "asyncpg.exceptions.UniqueViolationError: duplicate key",
        "SELECT id FROM users WHERE email = 'a'",
        "could not reach 10.0.0.7:8102",
    ):
        answer = httpx.Response(500, text=body, request=request)
        assert leaks(answer, ["10.0.0.7:8102"]), body
    assert leaks(httpx.Response(200, text="SELECT", request=request), []) == []


async def test_error_answers_of_every_route_name_no_internals(platform: Platform):
    """Wrong ids, wrong bodies, wrong callers: problem documents that say no more than that."""
    for route in platform.routes:
        for name in ("gateway", route.service) if route.through_gateway else (route.service,):
            client = platform.client(name)
            await client.request(route.method, route.url("not-an-id"), json={"x": [1, {}]})
            await client.request(route.method, route.url(), content=b"\x00\xff{")
            if route.audience is not Audience.PUBLIC:
                await client.request(
                    route.method, route.url(), headers={"Authorization": "Bearer e30.e30.e30"}
                )
    # The autouse fixture of tests/security/conftest.py fails the test on any leak.
    assert platform.leaked == []
