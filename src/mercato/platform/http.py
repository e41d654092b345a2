"""The service HTTP client: one pooled aiohttp session per process.

Chosen by a side-by-side benchmark (``bench/http_clients.py``, figures in
``docs/BENCHMARKS.md``): aiohttp's ``ClientSession`` proxies an order of magnitude
more requests per second than httpx's ``AsyncClient`` on this machine.

Every call has a timeout that bounds it whole, retries included; only idempotent
requests are retried (GET, HEAD, PUT, DELETE, or any request carrying an
``Idempotency-Key``), on connection failures and 502/503, never after a read timeout;
the request id, trace context and credentials travel along, and each attempt is a client
span. A call to a service the catalog does not allow raises.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import orjson
from multidict import CIMultiDict
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from mercato import catalog
from mercato.platform.context import bearer_token_var, current_request_id
from mercato.platform.errors import GatewayTimeout, ServiceUnavailable
from mercato.platform.metrics import Metrics
from mercato.platform.tracing import OFF, TRACE_HEADERS, Tracing, fail, inject

log = logging.getLogger("mercato.http")

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
RETRY_BACKOFF = 0.05

TokenSource = Callable[[], Awaitable[str]]


class UndeclaredDependencyError(RuntimeError):
    """A service tried to call one the catalog does not let it call."""


@dataclass(frozen=True)
class Reply:
    """An upstream's answer, read in full."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON."""
        return orjson.loads(self.body)

    @property
    def ok(self) -> bool:
        """True for 2xx."""
        return 200 <= self.status < 300


class HttpClients:
    """The process's HTTP session and one :class:`ServiceClient` per allowed upstream."""

    def __init__(
        self,
        *,
        caller: str,
        base_url: Callable[[str], str],
        metrics: Metrics,
        timeout: float = 5.0,
        connect_timeout: float = 1.0,
        retries: int = 2,
        pool_size: int = 100,
        tracing: Tracing = OFF,
    ) -> None:
        self.caller = caller
        self._tracer = tracing.tracer
        self._base_url = base_url
        self._timeout = timeout
        self._connect_timeout = connect_timeout
        self._retries = retries
        self._pool_size = pool_size
        self._session: aiohttp.ClientSession | None = None
        self._clients: dict[str, ServiceClient] = {}
        self.service_token: TokenSource | None = None
        self._requests = metrics.counter(
            "mercato_http_client_requests_total",
            "Calls to other services, by upstream and status (or error kind).",
            ["upstream", "status"],
        )
        self._latency = metrics.histogram(
            "mercato_http_client_duration_seconds",
            "Time of calls to other services, by upstream.",
            ["upstream"],
        )

    @property
    def session(self) -> aiohttp.ClientSession:
        """The shared session; created on first use inside the event loop."""
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self._pool_size,
                # Shorter than the servers' 30 s keep-alive, so the client closes an
                # idle connection before a server can close it under a new request.
                keepalive_timeout=15,
                ttl_dns_cache=30,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(
                    total=self._timeout, sock_connect=self._connect_timeout
                ),
                auto_decompress=False,
                skip_auto_headers=("User-Agent",),
            )
        return self._session

    def to(self, upstream: str) -> ServiceClient:
        """The client for ``upstream``; refuses upstreams the catalog does not allow."""
        if upstream not in catalog.sync_dependencies(self.caller):
            raise UndeclaredDependencyError(
                f"{self.caller} may not call {upstream}: add the edge to the catalog first"
            )
        client = self._clients.get(upstream)
        if client is None:
            client = self._clients[upstream] = ServiceClient(self, upstream)
        return client

    async def close(self) -> None:
        """Closes pooled connections."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def send(
        self,
        upstream: str,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        body: bytes | None,
        timeout: float | None,
        retry: bool,
    ) -> Reply:
        """Sends one request with retries, metrics and error mapping."""
        attempts = 1 + (self._retries if retry else 0)
        began = time.perf_counter()
        # The timeout bounds the whole call, retries included: it is the caller's budget.
        deadline = began + (timeout or self._timeout)
        for attempt in range(1, attempts + 1):
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                raise GatewayTimeout(f"{upstream} did not answer in time")
            client_timeout = aiohttp.ClientTimeout(
                total=remaining, sock_connect=min(self._connect_timeout, remaining)
            )
            try:
                reply = await self._attempt(
                    upstream, method, url, headers, body, client_timeout, attempt - 1
                )
            except aiohttp.ConnectionTimeoutError as exc:
                # Connecting took too long: nothing was sent, the upstream is unreachable.
                self._requests.labels(upstream=upstream, status="unreachable").inc()
                if attempt < attempts:
                    continue
                raise ServiceUnavailable(f"{upstream} is unreachable") from exc
            except TimeoutError as exc:
                # The budget is spent; another attempt could only overrun it.
                self._requests.labels(upstream=upstream, status="timeout").inc()
                raise GatewayTimeout(f"{upstream} did not answer in time") from exc
            except aiohttp.ClientError as exc:
                self._requests.labels(upstream=upstream, status="unreachable").inc()
                if attempt < attempts:
                    await asyncio.sleep(RETRY_BACKOFF * attempt)
                    continue
                raise ServiceUnavailable(f"{upstream} is unreachable") from exc
            self._requests.labels(upstream=upstream, status=str(reply.status)).inc()
            if retry and reply.status in (502, 503) and attempt < attempts:
                await asyncio.sleep(RETRY_BACKOFF * attempt)
                continue
            self._latency.labels(upstream=upstream).observe(time.perf_counter() - began)
            return reply
        raise AssertionError("unreachable")  # pragma: no cover

    async def _attempt(
        self,
        upstream: str,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes | None,
        timeout: aiohttp.ClientTimeout,
        resends: int,
    ) -> Reply:
        """One try, as one client span whose context the upstream receives."""
        span = self._tracer.start_span(f"{method} {upstream}", kind=SpanKind.CLIENT)
        out = {k: v for k, v in headers.items() if k.lower() not in TRACE_HEADERS}
        inject(out, span)
        try:
            async with self.session.request(
                method,
                url,
                headers=out,
                data=body,
                timeout=timeout,
                allow_redirects=False,
            ) as response:
                payload = await response.read()
                reply = Reply(response.status, CIMultiDict(response.headers), payload)
        except BaseException as exc:
            fail(span, exc)
            raise
        else:
            if span.is_recording():
                _describe_client_span(span, upstream, method, url, reply.status, resends)
        finally:
            span.end()
        return reply


class ServiceClient:
    """Calls one upstream service, carrying request id, trace and credentials."""

    def __init__(self, clients: HttpClients, upstream: str) -> None:
        self._clients = clients
        self.upstream = upstream

    @property
    def base_url(self) -> str:
        """Where the upstream listens."""
        return self._clients._base_url(self.upstream)

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        as_service: bool = False,
        timeout: float | None = None,
    ) -> Reply:
        """Calls ``path`` on the upstream with the caller's or the service's token."""
        method = method.upper()
        out = {"X-Request-ID": current_request_id() or ""}
        token = await self._token(as_service)
        if token:
            out["Authorization"] = f"Bearer {token}"
        body = None
        if json is not None:
            body = orjson.dumps(json)
            out["Content-Type"] = "application/json"
        out.update(headers or {})
        retry = method in IDEMPOTENT_METHODS or any(k.lower() == "idempotency-key" for k in out)
        return await self._clients.send(
            self.upstream,
            method,
            self.base_url + path,
            headers={k: v for k, v in out.items() if v},
            body=body,
            timeout=timeout,
            retry=retry,
        )

    async def _token(self, as_service: bool) -> str | None:
        if as_service:
            if self._clients.service_token is None:
                raise RuntimeError(f"{self._clients.caller} has no service credentials")
            return await self._clients.service_token()
        return bearer_token_var.get()


def _describe_client_span(
    span: Span, upstream: str, method: str, url: str, status: int, resends: int
) -> None:
    parsed = urlsplit(url)
    attributes: dict[str, str | int] = {
        "http.request.method": method,
        "http.response.status_code": status,
        # Without the query: it may carry what a trace store should not keep.
        "url.full": url.split("?", 1)[0],
        "peer.service": upstream,
    }
    if parsed.hostname:
        attributes["server.address"] = parsed.hostname
    if parsed.port:
        attributes["server.port"] = parsed.port
    if resends:
        attributes["http.request.resend_count"] = resends
    span.set_attributes(attributes)
    if status >= 400:
        # Client spans: any 4xx or 5xx answer is a failed call.
        span.set_status(Status(StatusCode.ERROR))
