"""The pass-through: find the upstream in the catalog, check the caller, forward."""

from __future__ import annotations

import asyncio
import time

import aiohttp
from starlette.requests import Request
from starlette.responses import Response

from mercato import catalog
from mercato.platform.context import current_request_id
from mercato.platform.errors import NotFound, ServiceUnavailable, TooManyRequests, Unauthorized
from mercato.platform.forwarding import (
    FORWARDED_FOR,
    FORWARDED_FOR_SEAL,
    AddressSeal,
    forwarded_hops,
    parse_address,
    peer_address,
)
from mercato.platform.http import IDEMPOTENT_METHODS, HttpClients, Reply
from mercato.platform.middleware import ROUTE_SCOPE_KEY
from mercato.platform.security import TokenVerifier, bearer_token
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
# Between two tries at an upstream that refused the connection (it is restarting), and
# for how long at most: a restart takes seconds; a service down for longer gets its 503.
REFUSED_BACKOFF_SECONDS = 0.2
REFUSED_RETRY_SECONDS = 10.0


def is_idempotent(request: Request) -> bool:
    """GET and the other safe or idempotent methods, and any request with an Idempotency-Key."""
    return request.method in IDEMPOTENT_METHODS or "idempotency-key" in request.headers


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


class Proxy:
    """Forwards public API requests to the catalog service that owns the path."""

    def __init__(
        self,
        *,
        http: HttpClients,
        verifier: TokenVerifier,
        limiter: RateLimiter,
        timeout: float,
        trusted_proxy_hops: int = 0,
        seal: AddressSeal | None = None,
    ) -> None:
        self._trusted_proxy_hops = trusted_proxy_hops
        self._seal = seal
        self._http = http
        self._verifier = verifier
        self._limiter = limiter
        self._timeout = timeout

    async def handle(self, request: Request) -> Response:
        """Forwards one request and relays the answer."""
        path = request.url.path
        service = catalog.service_for_path(path)
        if service is None:
            raise NotFound(f"No service serves {path}.")
        prefix = next(p for p in service.route_prefixes if path == p or path.startswith(p + "/"))
        request.scope[ROUTE_SCOPE_KEY] = f"{prefix}/*"

        address = self.address_of(request)
        client = await self._identify(request, service, address)
        wait = self._limiter.acquire(client)
        if wait > 0:
            raise TooManyRequests(
                "Too many requests; slow down.", retry_after=RateLimiter.retry_after(wait)
            )

        reply = await self._forward(request, service.name, address)
        headers = {k: v for k, v in reply.headers.items() if k.lower() not in NOT_FORWARDED_BACK}
        return Response(reply.body, status_code=reply.status, headers=headers)

    async def _forward(self, request: Request, service: str, address: str) -> Reply:
        """Sends the request upstream; an idempotent one again while the upstream refuses it.

        A service restarting (a deploy, a crash the runner or Kubernetes mends) refuses
        connections for a few seconds; retrying within the request's budget hides that
        from the client. Only requests that are safe to send twice are retried.
        """
        url = self._http.to(service).base_url + request.url.path
        if request.url.query:
            url += f"?{request.url.query}"
        headers = self._forward_headers(request, address)
        body = await request.body()
        idempotent = is_idempotent(request)
        began = time.monotonic()
        deadline = began + self._timeout
        while True:
            remaining = deadline - time.monotonic()
            try:
                return await self._http.send(
                    service,
                    request.method,
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
        return client_address(
            forwarded_hops(request.headers),
            peer_address(request),
            trusted_proxy_hops=self._trusted_proxy_hops,
        )

    def address_headers(self, address: str) -> dict[str, str]:
        """The headers that tell the services behind the client's address, sealed."""
        headers = {FORWARDED_FOR: address}
        if self._seal is not None:
            headers[FORWARDED_FOR_SEAL] = self._seal.seal(address)
        return headers

    async def _identify(self, request: Request, service: catalog.Service, address: str) -> str:
        """The rate-limit key; 401 for a protected route without a valid token."""
        token = bearer_token(request)
        if service.is_public_route(request.method, request.url.path):
            return f"address:{address}"
        if token is None:
            raise Unauthorized("A bearer token is required.")
        principal = await self._verifier.verify(token)
        return f"subject:{principal.subject}"

    def _forward_headers(self, request: Request, address: str) -> dict[str, str]:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in NOT_FORWARDED}
        # Exactly the address decided here: no service can read a client's forgery by
        # mistake, and the seal tells the services it came from the gateway.
        headers.update(self.address_headers(address))
        headers["x-forwarded-proto"] = request.url.scheme
        headers["x-forwarded-host"] = request.headers.get("host", "")
        # The client's traceparent and tracestate are replaced by the call's own span
        # (HttpClients.send), which continues the client's trace.
        headers["x-request-id"] = current_request_id() or ""
        return headers
