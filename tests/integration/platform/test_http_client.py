"""The service HTTP client against real local servers: propagation, retries, errors, metrics."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from mercato.platform.context import TraceContext, bearer_token_var, request_id_var
from mercato.platform.errors import GatewayTimeout, ServiceUnavailable
from mercato.platform.http import HttpClients, UndeclaredDependencyError
from mercato.platform.metrics import Metrics
from mercato.runner.engines import free_port
from tests.chassis import in_trace

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN_ID = "00f067aa0ba902b7"


@dataclass
class Upstream:
    """A real HTTP server whose answers the test scripts, recording what it received."""

    url: str
    seen: list[web.Request] = field(default_factory=list)
    # Statuses to answer with, in order, before answering 200.
    failures: list[int] = field(default_factory=list)
    # Connections to drop without an answer before answering.
    drops: int = 0
    delay: float = 0.0

    def count(self, path: str) -> int:
        return sum(1 for r in self.seen if r.path == path)


@contextlib.asynccontextmanager
async def upstream_server() -> AsyncIterator[Upstream]:
    port = free_port()
    upstream = Upstream(url=f"http://127.0.0.1:{port}")

    async def handle(request: web.Request) -> web.StreamResponse:
        upstream.seen.append(request)
        await request.read()
        if upstream.drops:
            upstream.drops -= 1
            assert request.transport is not None
            request.transport.close()
            raise asyncio.CancelledError
        if upstream.delay:
            await asyncio.sleep(upstream.delay)
        if upstream.failures:
            return web.json_response({"failed": True}, status=upstream.failures.pop(0))
        return web.json_response(
            {"method": request.method, "path": request.path, "headers": dict(request.headers)},
            headers={"x-upstream": "yes"},
        )

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        yield upstream
    finally:
        await runner.cleanup()


@pytest.fixture
async def upstream() -> AsyncIterator[Upstream]:
    async with upstream_server() as server:
        yield server


@pytest.fixture
def metrics() -> Metrics:
    return Metrics("user", version="1", commit="c", env="dev")


def make_clients(
    metrics: Metrics, base_url: Callable[[str], str], caller: str = "user", **options: Any
) -> HttpClients:
    values: dict[str, Any] = {"timeout": 2.0, "connect_timeout": 1.0, "retries": 2}
    values.update(options)
    return HttpClients(caller=caller, base_url=base_url, metrics=metrics, **values)


@pytest.fixture
async def clients(metrics: Metrics, upstream: Upstream) -> AsyncIterator[HttpClients]:
    # "user" verifies tokens, so the catalog lets it call auth.
    http = make_clients(metrics, lambda _: upstream.url)
    try:
        yield http
    finally:
        await http.close()


@contextlib.contextmanager
def request_context(*, request_id: str | None, token: str | None, trace: TraceContext | None):
    tokens = (request_id_var.set(request_id), bearer_token_var.set(token))
    try:
        with in_trace(trace):
            yield
    finally:
        for var, reset in zip((request_id_var, bearer_token_var), tokens, strict=True):
            var.reset(reset)  # type: ignore[attr-defined]


# -- propagation -----------------------------------------------------------------------


async def test_request_id_trace_and_callers_token_travel_along(clients, upstream):
    with request_context(
        request_id="req-7", token="callers.jwt.token", trace=TraceContext(TRACE_ID, SPAN_ID)
    ):
        reply = await clients.to("auth").request("GET", "/api/v1/auth/jwks.json")
    assert reply.ok
    [seen] = upstream.seen
    assert seen.path == "/api/v1/auth/jwks.json"
    assert seen.headers["X-Request-ID"] == "req-7"
    assert seen.headers["Authorization"] == "Bearer callers.jwt.token"
    outgoing = TraceContext.parse(seen.headers["traceparent"])
    assert outgoing is not None
    assert outgoing.trace_id == TRACE_ID
    assert outgoing.span_id != SPAN_ID


async def test_without_a_caller_nothing_is_invented(clients, upstream):
    with request_context(request_id=None, token=None, trace=None):
        await clients.to("auth").request("GET", "/x")
    [seen] = upstream.seen
    assert "Authorization" not in seen.headers
    assert "X-Request-ID" not in seen.headers
    assert TraceContext.parse(seen.headers["traceparent"]) is not None


async def test_a_forwarded_traceparent_is_replaced_by_the_calls_own_span(clients, upstream):
    # What the gateway forwards: the client's trace headers among the others.
    foreign = f"00-{'a' * 32}-{'b' * 16}-01"
    with request_context(request_id="r", token=None, trace=TraceContext(TRACE_ID, SPAN_ID)):
        await clients.send(
            "auth",
            "GET",
            upstream.url + "/x",
            headers={"TraceParent": foreign, "tracestate": "vendor=1", "x-other": "kept"},
            body=None,
            timeout=None,
            retry=False,
        )
    [seen] = upstream.seen
    [traceparent] = seen.headers.getall("traceparent")
    outgoing = TraceContext.parse(traceparent)
    assert outgoing is not None
    assert outgoing.trace_id == TRACE_ID
    assert outgoing.span_id not in (SPAN_ID, "b" * 16)
    assert "tracestate" not in seen.headers
    assert seen.headers["x-other"] == "kept"


async def test_each_attempt_is_its_own_span_in_the_callers_trace(clients, upstream):
    upstream.failures = [503, 502]
    with request_context(request_id="r", token=None, trace=TraceContext(TRACE_ID, SPAN_ID)):
        reply = await clients.to("auth").request("GET", "/x")
    assert reply.ok
    sent = [TraceContext.parse(r.headers["traceparent"]) for r in upstream.seen]
    assert len(sent) == 3
    assert all(t is not None and t.trace_id == TRACE_ID for t in sent)
    assert len({t.span_id for t in sent if t} | {SPAN_ID}) == 4


async def test_as_service_sends_the_service_token_instead_of_the_callers(clients, upstream):
    async def service_token() -> str:
        return "service.jwt.token"

    clients.service_token = service_token
    with request_context(request_id="r", token="callers.jwt.token", trace=None):
        await clients.to("auth").request("GET", "/x", as_service=True)
        await clients.to("auth").request("GET", "/y")
    assert upstream.seen[0].headers["Authorization"] == "Bearer service.jwt.token"
    assert upstream.seen[1].headers["Authorization"] == "Bearer callers.jwt.token"


async def test_as_service_without_credentials_fails_loudly(clients):
    with pytest.raises(RuntimeError, match="no service credentials"):
        await clients.to("auth").request("GET", "/x", as_service=True)


async def test_json_bodies_and_extra_headers_are_sent(clients, upstream):
    reply = await clients.to("auth").request(
        "POST", "/things", json={"a": 1}, headers={"X-Extra": "1"}
    )
    body = reply.json()
    assert body["method"] == "POST"
    assert body["headers"]["Content-Type"] == "application/json"
    assert body["headers"]["X-Extra"] == "1"


async def test_reply_headers_are_case_insensitive(clients):
    reply = await clients.to("auth").request("GET", "/x")
    assert reply.headers["X-Upstream"] == "yes"
    assert reply.headers["x-upstream"] == "yes"
    assert reply.headers["content-type"].startswith("application/json")


# -- the catalog decides who may be called ---------------------------------------------


async def test_calling_an_undeclared_service_raises(clients, metrics):
    with pytest.raises(UndeclaredDependencyError, match="user may not call gateway"):
        clients.to("gateway")
    other = Metrics("auth", version="1", commit="c", env="dev")
    auth_clients = make_clients(other, lambda _: "http://unused", caller="auth")
    with pytest.raises(UndeclaredDependencyError):
        auth_clients.to("user")


# -- retries ---------------------------------------------------------------------------


@pytest.mark.parametrize("status", [502, 503])
async def test_get_is_retried_on_502_and_503(clients, upstream, status):
    upstream.failures = [status, status]
    reply = await clients.to("auth").request("GET", "/x")
    assert reply.status == 200
    assert upstream.count("/x") == 3


async def test_retries_are_bounded(clients, upstream):
    upstream.failures = [503] * 10
    reply = await clients.to("auth").request("GET", "/x")
    assert reply.status == 503
    assert upstream.count("/x") == 3


@pytest.mark.parametrize("status", [500, 504, 429, 404])
async def test_other_statuses_are_not_retried(clients, upstream, status):
    upstream.failures = [status]
    reply = await clients.to("auth").request("GET", "/x")
    assert reply.status == status
    assert upstream.count("/x") == 1


async def test_post_without_idempotency_key_is_not_retried(clients, upstream):
    upstream.failures = [503, 503]
    reply = await clients.to("auth").request("POST", "/charge", json={})
    assert reply.status == 503
    assert upstream.count("/charge") == 1


@pytest.mark.parametrize("header", ["Idempotency-Key", "idempotency-key"])
async def test_post_with_idempotency_key_is_retried(clients, upstream, header):
    upstream.failures = [503, 502]
    reply = await clients.to("auth").request("POST", "/charge", json={}, headers={header: "k-1"})
    assert reply.status == 200
    assert upstream.count("/charge") == 3
    assert {r.headers["Idempotency-Key"] for r in upstream.seen} == {"k-1"}


async def test_get_is_retried_when_the_connection_drops(clients, upstream):
    upstream.drops = 2
    reply = await clients.to("auth").request("GET", "/x")
    assert reply.status == 200
    assert upstream.count("/x") == 3


async def test_post_is_not_retried_when_the_connection_drops(clients, upstream):
    upstream.drops = 1
    with pytest.raises(ServiceUnavailable):
        await clients.to("auth").request("POST", "/charge", json={})
    assert upstream.count("/charge") == 1


# -- failures --------------------------------------------------------------------------


async def test_connection_refused_is_service_unavailable(metrics):
    closed = f"http://127.0.0.1:{free_port()}"
    http = make_clients(metrics, lambda _: closed)
    try:
        with pytest.raises(ServiceUnavailable) as error:
            await http.to("auth").request("GET", "/x")
    finally:
        await http.close()
    assert error.value.status == 503
    assert "auth" in error.value.detail


async def test_a_slow_upstream_is_a_gateway_timeout_and_not_retried(metrics, upstream):
    upstream.delay = 5.0
    http = make_clients(metrics, lambda _: upstream.url, timeout=0.3)
    try:
        with pytest.raises(GatewayTimeout) as error:
            await http.to("auth").request("GET", "/slow")
    finally:
        await http.close()
    assert error.value.status == 504
    # Retrying would multiply the caller's wait by the number of attempts.
    assert upstream.count("/slow") == 1


async def test_a_per_call_timeout_overrides_the_default(clients, upstream):
    upstream.delay = 5.0
    with pytest.raises(GatewayTimeout):
        await clients.to("auth").request("GET", "/slow", timeout=0.2)
    assert upstream.count("/slow") == 1


# -- metrics ---------------------------------------------------------------------------


def client_samples(metrics: Metrics, name: str) -> dict[tuple[str, ...], float]:
    exposition = metrics.exposition()[0].decode()
    return {
        tuple(v for k, v in sorted(s.labels.items()) if k != "service"): s.value
        for family in text_string_to_metric_families(exposition)
        for s in family.samples
        if s.name == name
    }


async def test_client_metrics_are_recorded_per_upstream(metrics, upstream):
    closed = f"http://127.0.0.1:{free_port()}"
    urls = {"auth": upstream.url}
    http = make_clients(metrics, lambda name: urls.get(name, closed), caller="gateway")
    try:
        upstream.failures = [503]
        await http.to("auth").request("GET", "/x")
        with pytest.raises(ServiceUnavailable):
            await http.to("user").request("GET", "/x")
    finally:
        await http.close()
    counted = client_samples(metrics, "mercato_http_client_requests_total")
    assert counted[("503", "auth")] == 1
    assert counted[("200", "auth")] == 1
    assert counted[("unreachable", "user")] == 3
    durations = client_samples(metrics, "mercato_http_client_duration_seconds_count")
    assert durations[("auth",)] == 1
