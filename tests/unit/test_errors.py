"""Every failure leaves a service as RFC 9457 problem+json, and nothing internal leaks."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import pytest
import sqlalchemy.exc

from mercato.platform.errors import PROBLEM_BASE, PROBLEM_CONTENT_TYPE, database_is_unavailable
from mercato.platform.logging import JsonFormatter
from tests.chassis import LEAKY_ERROR_TEXT, captured_logs, gateway_settings, served, tiny_app

ITEMS = "/api/v1/items"
LIMIT = 1024


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    app = tiny_app(gateway_settings(max_body_bytes=LIMIT))
    async with served(app) as url, httpx.AsyncClient(base_url=url, timeout=10) as http:
        yield http


def assert_problem(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_CONTENT_TYPE
    body = response.json()
    assert body["status"] == status
    assert body["type"].startswith(PROBLEM_BASE)
    assert body["title"]
    assert body["detail"]
    assert body["request_id"] == response.headers["x-request-id"]
    return body


async def test_a_valid_request_passes(client):
    created = await client.post(ITEMS, json={"name": "cup", "quantity": 2})
    assert created.status_code == 201
    assert created.json() == {"name": "cup", "quantity": 2}


async def test_malformed_json_is_400(client):
    response = await client.post(
        ITEMS, content=b'{"name": "cup",', headers={"content-type": "application/json"}
    )
    body = assert_problem(response, 400)
    assert body["type"] == PROBLEM_BASE + "malformed-json"


async def test_invalid_fields_are_422_with_each_error_located(client):
    response = await client.post(ITEMS, json={"name": "", "quantity": 0})
    body = assert_problem(response, 422)
    assert body["type"] == PROBLEM_BASE + "validation-failed"
    located = {tuple(e["loc"]): e["msg"] for e in body["errors"]}
    assert set(located) == {("body", "name"), ("body", "quantity")}
    assert all(isinstance(msg, str) and msg for msg in located.values())


async def test_a_missing_body_is_422(client):
    response = await client.post(ITEMS)
    body = assert_problem(response, 422)
    assert body["errors"][0]["loc"] == ["body"]


async def test_a_json_value_that_is_not_an_object_is_422(client):
    response = await client.post(ITEMS, json=[1, 2])
    assert_problem(response, 422)


async def test_unknown_route_is_404(client):
    assert_problem(await client.get("/api/v1/nothing/here"), 404)


async def test_wrong_method_is_405_with_allow(client):
    response = await client.delete(ITEMS)
    assert_problem(response, 405)
    assert "POST" in response.headers["allow"]


async def test_domain_errors_map_to_their_status_with_extras(client):
    body = assert_problem(await client.get(f"{ITEMS}/conflict"), 409)
    assert body["type"] == PROBLEM_BASE + "conflict"
    assert body["detail"] == "That item exists already."
    assert body["item"] == "x"


async def test_an_unhandled_exception_is_500_without_internals(client):
    response = await client.get(f"{ITEMS}/boom")
    body = assert_problem(response, 500)
    assert body["type"] == PROBLEM_BASE + "internal-error"
    text = response.text
    assert LEAKY_ERROR_TEXT not in text
    assert "Traceback" not in text
    assert "RuntimeError" not in text


async def test_the_service_keeps_serving_after_an_unhandled_exception(client):
    await client.get(f"{ITEMS}/boom")
    assert (await client.get(f"{ITEMS}/42")).status_code == 200


async def test_an_announced_body_over_the_limit_is_413(client):
    response = await client.post(
        f"{ITEMS}/raw", content=b"x" * (LIMIT + 1), headers={"content-type": "text/plain"}
    )
    body = assert_problem(response, 413)
    assert body["type"] == PROBLEM_BASE + "payload-too-large"


async def test_a_body_at_the_limit_passes(client):
    response = await client.post(f"{ITEMS}/raw", content=b"x" * LIMIT)
    assert response.status_code == 200
    assert response.json() == {"received": LIMIT}


async def chunks(total: int, size: int = 200) -> AsyncIterator[bytes]:
    sent = 0
    while sent < total:
        part = min(size, total - sent)
        sent += part
        yield b"x" * part
        await asyncio.sleep(0)


@pytest.mark.parametrize("route", [f"{ITEMS}/raw", ITEMS])
async def test_a_chunked_body_streaming_past_the_limit_is_413(client, route):
    response = await client.post(
        route, content=chunks(LIMIT * 4), headers={"content-type": "application/json"}
    )
    assert "content-length" not in response.request.headers
    assert response.request.headers["transfer-encoding"] == "chunked"
    body = assert_problem(response, 413)
    assert body["type"] == PROBLEM_BASE + "payload-too-large"


async def test_a_chunked_body_under_the_limit_passes(client):
    response = await client.post(f"{ITEMS}/raw", content=chunks(LIMIT - 10))
    assert response.status_code == 200
    assert response.json() == {"received": LIMIT - 10}


async def test_a_nonsense_content_length_is_refused(client):
    # h11 (httpx) will not send a bad Content-Length, so speak HTTP by hand.
    url = httpx.URL(str(client.base_url))
    reader, writer = await asyncio.open_connection(url.host, url.port)
    writer.write(
        b"POST /api/v1/items/raw HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n"
        b"Connection: close\r\n\r\n"
    )
    await writer.drain()
    reply = await reader.read()
    writer.close()
    status = int(reply.split(b" ", 2)[1])
    assert status in (400, 413)


def test_an_extension_may_not_shadow_a_problem_member():
    from mercato.platform.errors import Conflict

    with pytest.raises(ValueError, match="status"):
        Conflict("taken", status="held")
    assert Conflict("taken", reservation_status="held").extra == {"reservation_status": "held"}


@pytest.mark.parametrize("target", [f"{ITEMS}/a%00b", f"{ITEMS}/1?q=a%00"])
async def test_a_nul_in_the_path_or_query_is_422(client, target):
    body = assert_problem(await client.get(target), 422)
    assert body["type"] == PROBLEM_BASE + "validation-failed"


async def test_a_refused_body_keeps_its_request_id_and_its_access_line(client):
    with captured_logs("mercato.access", JsonFormatter("gateway")) as logs:
        response = await client.post(
            f"{ITEMS}/raw", content=b"x" * (LIMIT + 1), headers={"X-Request-ID": "req-big"}
        )
    assert assert_problem(response, 413)["request_id"] == "req-big"
    line = json.loads(logs.lines[-1])
    assert (line["status"], line["request_id"], line["path"]) == (413, "req-big", f"{ITEMS}/raw")


class _DriverError(Exception):
    def __init__(self, sqlstate: str | None) -> None:
        super().__init__("driver error")
        self.sqlstate = sqlstate


@pytest.mark.parametrize(
    ("sqlstate", "unavailable"),
    [
        ("57P01", True),  # terminated by a shutdown
        ("57P03", True),  # the database system is starting up
        ("53300", True),  # too many connections
        ("08006", True),  # connection failure
        ("23505", False),  # a unique violation is the query's fault
        ("42P01", False),  # so is a missing table
        (None, False),
    ],
)
def test_only_a_server_that_cannot_serve_now_is_unavailable(
    sqlstate: str | None, unavailable: bool
) -> None:
    error = sqlalchemy.exc.DBAPIError("SELECT 1", None, _DriverError(sqlstate))

    assert database_is_unavailable(error) is unavailable
