"""The pass-through: find the upstream in the catalog, check the caller, forward.

The proxy path is a raw ASGI endpoint (:class:`ProxyRoute`, first in the router): no
FastAPI route or dependency machinery, no Starlette request or response objects, one pass
over the headers per request, and everything that depends only on the catalog or the
settings (the prefix table, public routes, upstream URLs) computed once. ADR 0036 says why.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

import aiohttp
from starlette.datastructures import URL
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.routing import BaseRoute, Match, NoMatchFound
from starlette.types import Receive, Scope, Send

from mercato import catalog
from mercato.platform.context import current_request_id
from mercato.platform.errors import NotFound, ServiceUnavailable, TooManyRequests, Unauthorized
from mercato.platform.forwarding import (
    FORWARDED_FOR,
    FORWARDED_FOR_SEAL,
    UNKNOWN_PEER,
    AddressSeal,
    parse_address,
)
from mercato.platform.http import IDEMPOTENT_METHODS, HttpClients, Reply
from mercato.platform.middleware import ROUTE_SCOPE_KEY
from mercato.platform.security import Principal
from mercato.services.gateway.ratelimit import RateLimiter

# RFC 9110 section 7.6.1 hop-by-hop headers, plus those the proxy sets itself.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)
# Set by the gateway alone: whatever a client sent under these names is dropped.
NOT_FORWARDED = HOP_BY_HOP | {FORWARDED_FOR, FORWARDED_FOR_SEAL}
NOT_FORWARDED_BACK = HOP_BY_HOP | {"x-request-id", "date", "server", FORWARDED_FOR_SEAL}
# ASGI servers hand header names over lower-cased, as bytes.
_NOT_FORWARDED_RAW = frozenset(name.encode() for name in NOT_FORWARDED)
_FORWARDED_FOR_RAW = FORWARDED_FOR.encode()
# Between two tries at an upstream that refused the connection (it is restarting), and
# for how long at most: a restart takes seconds; a service down for longer gets its 503.
REFUSED_BACKOFF_SECONDS = 0.2
REFUSED_RETRY_SECONDS = 10.0
# Paths and queries holding these go through Starlette's URL, exactly as before (it
# escapes the first three and urlsplit drops tabs and line breaks); all others are used as
# they are.
_PATH_SPECIAL = ("?", "#", "\\", "\t", "\r", "\n")
_QUERY_SPECIAL = ("#", "\t", "\r", "\n")
# Bounds of the per-process caches of parsed peers and sealed addresses.
_ADDRESS_CACHE_SIZE = 4096


def is_idempotent(method: str, headers: Iterable[str]) -> bool:
    """GET and the other safe or idempotent methods, and any request with an Idempotency-Key."""
    return method in IDEMPOTENT_METHODS or "idempotency-key" in headers


def _refused(exc: ServiceUnavailable) -> bool:
    """The upstream could not be reached at all: nothing of the request was processed."""
    cause = exc.__cause__
    return isinstance(cause, aiohttp.ClientConnectionError) and not isinstance(
        cause, aiohttp.ServerTimeoutError
    )


def client_address(forwarded_for: list[str], peer: str, *, trusted_proxy_hops: int) -> str:
    """The client's address: what the outermost of ``trusted_proxy_hops`` proxies saw.

    Each trusted proxy appends the address it saw to ``X-Forwarded-For`` and the innermost
    is the socket peer, so the client's address is the entry ``trusted_proxy_hops``
    places left of the peer; with 0 it is the peer itself. Entries further left are the
    client's own writing and are never read. A chain too short to hold that entry (the request
    bypassed a proxy) or an entry that is no IP address gives the peer: a client may
    then share its proxy's bucket, but never chooses its own key.
    """
    chain = [*forwarded_for, peer]
    if trusted_proxy_hops <= 0 or len(chain) <= trusted_proxy_hops:
        return peer
    return parse_address(chain[-1 - trusted_proxy_hops]) or peer


def bearer_token_of(authorization: str | None) -> str | None:
    """The bearer token of an ``Authorization`` header value, if it holds one."""
    scheme, _, value = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


class Verifier(Protocol):
    """What the proxy needs of a token verifier (``TokenVerifier`` or a cache in front)."""

    def verify(self, token: str) -> Awaitable[Principal]:
        """The principal of a valid token; Unauthorized otherwise."""
        ...


@dataclass(frozen=True)
class Upstream:
    """A catalog service as the proxy sees it: where it listens and what passes tokenless."""

    name: str
    prefix: str
    route_label: str
    base_url: str
    public: dict[str, tuple[catalog.Route, ...]]

    def is_public_route(self, method: str, path: str) -> bool:
        """Tells whether a request may pass the gateway without a token."""
        routes = self.public.get(method)
        return routes is not None and any(r.matches(method, path) for r in routes)


class RouteTable:
    """The catalog's route prefixes, longest first, each with its upstream."""

    def __init__(self, services: Iterable[catalog.Service], base_url: Callable[[str], str]):
        self._upstreams: dict[str, Upstream] = {}
        for service in services:
            public: dict[str, list[catalog.Route]] = {}
            for route in service.public_routes:
                public.setdefault(route.method.upper(), []).append(route)
            for prefix in service.route_prefixes:
                # Two services with one prefix: the first in the catalog wins, as before.
                self._upstreams.setdefault(
                    prefix,
                    Upstream(
                        name=service.name,
                        prefix=prefix,
                        route_label=f"{prefix}/*",
                        base_url=base_url(service.name),
                        public={m: tuple(r) for m, r in public.items()},
                    ),
                )
        self._longest = max((len(p) for p in self._upstreams), default=0)
        self._shortest = min((len(p) for p in self._upstreams), default=1)

    def lookup(self, path: str) -> Upstream | None:
        """The upstream whose prefix owns ``path`` (longest prefix wins)."""
        # Candidates are the path itself and its parts before each "/", longest first:
        # one or two dict lookups, however many services there are.
        end = len(path)
        if end > self._longest:
            end = path.rfind("/", 0, self._longest + 1)
        while end >= self._shortest:
            upstream = self._upstreams.get(path[:end])
            if upstream is not None:
                return upstream
            end = path.rfind("/", 0, end)
        return None


class Proxy:
    """Forwards public API requests to the catalog service that owns the path."""

    def __init__(
        self,
        *,
        http: HttpClients,
        verifier: Verifier,
        limiter: RateLimiter,
        timeout: float,
        trusted_proxy_hops: int = 0,
        seal: AddressSeal | None = None,
        services: Sequence[catalog.Service] | None = None,
    ) -> None:
        self._trusted_proxy_hops = trusted_proxy_hops
        self._seal = seal
        self._http = http
        self._verifier = verifier
        self._limiter = limiter
        self._timeout = timeout
        self._routes = RouteTable(
            services if services is not None else catalog.SERVICES.values(),
            lambda name: http.to(name).base_url,
        )
        self._peers: dict[str, str] = {}
        self._seals: dict[str, str] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Forwards one request (raw ASGI) and relays the answer."""
        path = scope["path"]
        raw_query: bytes = scope.get("query_string", b"")
        if any(c in path for c in _PATH_SPECIAL) or path.startswith("//"):
            url = URL(scope=scope)
            path, query = url.path, url.query
        else:
            query = raw_query.decode()
            if query and any(c in query for c in _QUERY_SPECIAL):
                query = URL(scope=scope).query
        upstream = self._routes.lookup(path)
        if upstream is None:
            raise NotFound(f"No service serves {path}.")
        scope[ROUTE_SCOPE_KEY] = upstream.route_label

        # One pass over the client's headers: what goes on, and what the gateway reads.
        headers: dict[str, str] = {}
        authorization: str | None = None
        host: str | None = None
        forwarded_for: list[bytes] = []
        for raw_name, raw_value in scope["headers"]:
            if raw_name in _NOT_FORWARDED_RAW:
                if raw_name == b"host":
                    if host is None:
                        host = raw_value.decode("latin-1")
                elif raw_name == _FORWARDED_FOR_RAW:
                    forwarded_for.append(raw_value)
                continue
            name = raw_name.decode("latin-1")
            value = raw_value.decode("latin-1")
            headers[name] = value
            if authorization is None and name == "authorization":
                authorization = value

        method: str = scope["method"]
        address = self._address(scope, forwarded_for)
        client = await self._identify(upstream, method, path, authorization, address)
        if self._limiter.enabled:
            wait = self._limiter.acquire(client)
            if wait > 0:
                raise TooManyRequests(
                    "Too many requests; slow down.", retry_after=RateLimiter.retry_after(wait)
                )

        # Exactly the address decided here: no service can read a client's forgery by
        # mistake, and the seal tells the services it came from the gateway.
        headers[FORWARDED_FOR] = address
        if self._seal is not None:
            headers[FORWARDED_FOR_SEAL] = self._sealed(address)
        headers["x-forwarded-proto"] = scope.get("scheme", "http")
        headers["x-forwarded-host"] = host or ""
        # The client's traceparent and tracestate are replaced by the call's own span
        # (HttpClients.send), which continues the client's trace.
        headers["x-request-id"] = current_request_id() or ""

        target = upstream.base_url + path
        if query:
            target += "?" + query
        body = await _read_body(receive)
        reply = await self._forward(
            upstream.name, method, target, headers, body, is_idempotent(method, headers)
        )
        await _relay(reply, send)

    async def _forward(
        self,
        service: str,
        method: str,
        url: str,
        headers: dict[str, str],
        body: bytes | None,
        idempotent: bool,
    ) -> Reply:
        """Sends the request upstream; an idempotent one again while the upstream refuses it.

        A service restarting (a deploy, a crash the runner or Kubernetes mends) refuses
        connections for a few seconds; retrying within the request's budget hides that
        from the client. Only requests that are safe to send twice are retried.
        """
        began = time.monotonic()
        deadline = began + self._timeout
        while True:
            remaining = deadline - time.monotonic()
            try:
                return await self._http.send(
                    service,
                    method,
                    url,
                    headers=headers,
                    body=body,
                    timeout=remaining,
                    retry=idempotent,
                )
            except ServiceUnavailable as exc:
                waited = time.monotonic() - began
                if (
                    not (idempotent and _refused(exc))
                    or remaining < 2 * REFUSED_BACKOFF_SECONDS
                    or waited > REFUSED_RETRY_SECONDS
                ):
                    raise
            await asyncio.sleep(REFUSED_BACKOFF_SECONDS)

    def address_of(self, request: Request) -> str:
        """The client's address, decided once here for the rate limit and the services."""
        lines = [v for k, v in request.headers.raw if k == _FORWARDED_FOR_RAW]
        return self._address(request.scope, lines)

    def _address(self, scope: Scope, forwarded_for: list[bytes]) -> str:
        peer = self._peer(scope)
        if self._trusted_proxy_hops <= 0:
            return peer
        lines = [line.decode("latin-1") for line in forwarded_for]
        hops = [hop.strip() for line in lines for hop in line.split(",") if hop.strip()]
        return client_address(hops, peer, trusted_proxy_hops=self._trusted_proxy_hops)

    def _peer(self, scope: Scope) -> str:
        """The socket peer as :func:`mercato.platform.forwarding.peer_address` gives it."""
        client = scope.get("client")
        if not client:
            return UNKNOWN_PEER
        host = client[0]
        peer = self._peers.get(host)
        if peer is None:
            if len(self._peers) >= _ADDRESS_CACHE_SIZE:
                self._peers.clear()
            peer = self._peers[host] = parse_address(host) or host
        return peer

    def _sealed(self, address: str) -> str:
        assert self._seal is not None
        seal = self._seals.get(address)
        if seal is None:
            if len(self._seals) >= _ADDRESS_CACHE_SIZE:
                self._seals.clear()
            seal = self._seals[address] = self._seal.seal(address)
        return seal

    def address_headers(self, address: str) -> dict[str, str]:
        """The headers that tell the services behind the client's address, sealed."""
        headers = {FORWARDED_FOR: address}
        if self._seal is not None:
            headers[FORWARDED_FOR_SEAL] = self._sealed(address)
        return headers

    async def _identify(
        self,
        upstream: Upstream,
        method: str,
        path: str,
        authorization: str | None,
        address: str,
    ) -> str:
        """The rate-limit key; 401 for a protected route without a valid token."""
        if upstream.is_public_route(method, path):
            return f"address:{address}"
        token = bearer_token_of(authorization)
        if token is None:
            raise Unauthorized("A bearer token is required.")
        principal = await self._verifier.verify(token)
        return f"subject:{principal.subject}"


class ProxyRoute(BaseRoute):
    """``/api/v1/...`` for the proxy, matched by prefix before any FastAPI route is tried."""

    def __init__(self, prefix: str, proxy: Proxy, methods: Sequence[str]) -> None:
        self.prefix = prefix.rstrip("/") + "/"
        self.path = self.path_format = f"{self.prefix}{{path:path}}"
        self.name = "proxy"
        self.methods = frozenset(methods)
        self._allow = ", ".join(methods)
        self._proxy = proxy

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        """FULL for an API path and a proxied method, PARTIAL (405) for another method."""
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            return Match.NONE, {}
        if scope["method"] not in self.methods:
            return Match.PARTIAL, {}
        return Match.FULL, {}

    def url_path_for(self, name: str, /, **path_params: object) -> object:
        """The proxy has no named paths to build."""
        raise NoMatchFound(name, path_params)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Forwards the request, or answers 405 for a method the proxy does not pass."""
        if scope["method"] not in self.methods:
            raise HTTPException(status_code=405, headers={"Allow": self._allow})
        await self._proxy(scope, receive, send)


async def _read_body(receive: Receive) -> bytes | None:
    """The request body, joined only when it came in several chunks; None when empty."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.request":
            chunk = message.get("body", b"")
            if chunk:
                chunks.append(chunk)
            if not message.get("more_body", False):
                break
        elif message["type"] == "http.disconnect":
            raise ClientDisconnect()
    if not chunks:
        # aiohttp sends an empty body of a POST, PUT or PATCH as Content-Length: 0 itself.
        return None
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def _relay(reply: Reply, send: Send) -> None:
    """Sends the upstream's answer on, without the headers that belong to the hop."""
    headers = [
        (name.encode("latin-1"), value.encode("latin-1"))
        for name, value in ((k.lower(), v) for k, v in reply.headers.items())
        if name not in NOT_FORWARDED_BACK
    ]
    status = reply.status
    if not (status < 200 or status in (204, 304)):
        headers.append((b"content-length", str(len(reply.body)).encode("latin-1")))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": reply.body})
