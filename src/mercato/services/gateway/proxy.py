"""The pass-through: find the upstream in the catalog, check the caller, forward."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from mercato import catalog
from mercato.platform.context import current_request_id
from mercato.platform.errors import NotFound, TooManyRequests, Unauthorized
from mercato.platform.forwarding import (
    FORWARDED_FOR,
    FORWARDED_FOR_SEAL,
    AddressSeal,
    forwarded_hops,
    parse_address,
    peer_address,
)
from mercato.platform.http import IDEMPOTENT_METHODS, HttpClients
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

        upstream = self._http.to(service.name)
        url = upstream.base_url + path + (f"?{request.url.query}" if request.url.query else "")
        reply = await self._http.send(
            service.name,
            request.method,
            url,
            headers=self._forward_headers(request, address),
            body=await request.body(),
            timeout=self._timeout,
            retry=request.method in IDEMPOTENT_METHODS,
        )
        headers = {k: v for k, v in reply.headers.items() if k.lower() not in NOT_FORWARDED_BACK}
        return Response(reply.body, status_code=reply.status, headers=headers)

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
