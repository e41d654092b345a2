"""The pass-through: find the upstream in the catalog, check the caller, forward."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from mercato import catalog
from mercato.platform.context import current_request_id
from mercato.platform.errors import NotFound, TooManyRequests, Unauthorized
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
NOT_FORWARDED_BACK = HOP_BY_HOP | {"x-request-id", "date", "server"}


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
    ) -> None:
        self._trusted_proxy_hops = trusted_proxy_hops
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

        forwarded_for = self._forwarded_for(request)
        client = await self._identify(request, service, forwarded_for[-1])
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
            headers=self._forward_headers(request, forwarded_for),
            body=await request.body(),
            timeout=self._timeout,
            retry=request.method in IDEMPOTENT_METHODS,
        )
        headers = {k: v for k, v in reply.headers.items() if k.lower() not in NOT_FORWARDED_BACK}
        return Response(reply.body, status_code=reply.status, headers=headers)

    def _forwarded_for(self, request: Request) -> list[str]:
        """The X-Forwarded-For chain up to the real client, which comes last.

        The socket peer is appended; ``trusted_proxy_hops`` proxies in front of the
        gateway (an ALB, say) are trusted to have appended the address they saw.
        Anything a client wrote itself stays to the left of the real address.
        """
        chain = [
            hop.strip()
            for hop in request.headers.get("x-forwarded-for", "").split(",")
            if hop.strip()
        ]
        chain.append(request.client.host if request.client else "unknown")
        keep = max(1, len(chain) - self._trusted_proxy_hops)
        return chain[:keep]

    async def _identify(self, request: Request, service: catalog.Service, address: str) -> str:
        """The rate-limit key; 401 for a protected route without a valid token."""
        token = bearer_token(request)
        if service.is_public_route(request.method, request.url.path):
            return f"address:{address}"
        if token is None:
            raise Unauthorized("A bearer token is required.")
        principal = await self._verifier.verify(token)
        return f"subject:{principal.subject}"

    @staticmethod
    def _forward_headers(request: Request, forwarded_for: list[str]) -> dict[str, str]:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        # Services take the last entry as the client's address.
        headers["x-forwarded-for"] = ", ".join(forwarded_for)
        headers["x-forwarded-proto"] = request.url.scheme
        headers["x-forwarded-host"] = request.headers.get("host", "")
        # The client's traceparent and tracestate are replaced by the call's own span
        # (HttpClients.send), which continues the client's trace.
        headers["x-request-id"] = current_request_id() or ""
        return headers
