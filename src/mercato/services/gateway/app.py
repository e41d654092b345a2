"""Builds the gateway: the one public entry of the platform."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from mercato.catalog import API_PREFIX
from mercato.platform.app import Platform
from mercato.platform.forwarding import AddressSeal, forwarding_key
from mercato.platform.middleware import SecurityHeadersMiddleware
from mercato.services.gateway.openapi import MergedOpenApi
from mercato.services.gateway.proxy import Proxy
from mercato.services.gateway.ratelimit import RateLimiter
from mercato.services.gateway.settings import Settings

PROXIED_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

log = logging.getLogger("mercato.gateway")


def create_app(settings: Settings | None = None) -> FastAPI:
    """The gateway app: catalog routes, edge auth, rate limits, merged OpenAPI."""
    settings = settings or Settings()
    platform = Platform(settings)
    assert platform.verifier is not None
    proxy = Proxy(
        http=platform.http,
        verifier=platform.verifier,
        limiter=RateLimiter(
            rate=settings.rate_limit_per_second,
            burst=settings.rate_limit_burst,
            max_clients=settings.rate_limit_max_clients,
        ),
        timeout=settings.upstream_timeout_seconds,
        trusted_proxy_hops=settings.trusted_proxy_hops,
        seal=_address_seal(settings),
    )
    openapi = MergedOpenApi(
        platform.http, version=settings.version, ttl=settings.openapi_cache_seconds
    )
    app = platform.create_app(
        routers=[_docs_router(openapi)], title="Mercato gateway", own_openapi=False
    )
    app.router.routes.append(
        Route(f"{API_PREFIX}/{{path:path}}", proxy.handle, methods=PROXIED_METHODS, name="proxy")
    )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=PROXIED_METHODS,
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "X-Request-ID"],
            expose_headers=["X-Request-ID", "Retry-After"],
            max_age=600,
        )
    # Outermost, so the answers of every layer below (CORS, body limit, 500s) carry them.
    app.add_middleware(SecurityHeadersMiddleware)
    return app


def _address_seal(settings: Settings) -> AddressSeal | None:
    """The seal the services behind trust, keyed by the gateway's client secret."""
    if settings.client_secret is None:  # dev only: deployed profiles refuse to start
        log.warning(
            "no MERCATO_CLIENT_SECRET: the services behind the gateway will see its "
            "address, not the clients'"
        )
        return None
    return AddressSeal(forwarding_key(settings.client_secret.get_secret_value()))


def _docs_router(openapi: MergedOpenApi) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/openapi.json")
    async def merged_openapi() -> dict[str, Any]:
        return await openapi.document()

    @router.get("/docs")
    async def docs(_: Request) -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title="Mercato API")

    @router.get("/", include_in_schema=False)
    async def root() -> Response:
        return Response(status_code=307, headers={"Location": "/docs"})

    return router
