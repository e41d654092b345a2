"""Builds the gateway: the one public entry of the platform."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse

from mercato.catalog import API_PREFIX
from mercato.platform.app import Platform
from mercato.platform.forwarding import AddressSeal, forwarding_key
from mercato.platform.middleware import SecurityHeadersMiddleware
from mercato.services.gateway.openapi import MergedOpenApi
from mercato.services.gateway.proxy import Proxy, ProxyRoute
from mercato.services.gateway.ratelimit import RateLimiter
from mercato.services.gateway.session import SessionCookies
from mercato.services.gateway.settings import Settings
from mercato.services.gateway.web import (
    ASSETS_PATH,
    assets_app,
    security_headers,
    web_root,
    web_router,
)

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
    session = SessionCookies(
        http=platform.http,
        # The address proxied calls carry, sealed: auth throttles logins per address.
        client_headers=lambda request: proxy.address_headers(proxy.address_of(request)),
        cookie_name=settings.session_cookie_name,
        secure=settings.session_cookie_secure,
        max_age_seconds=settings.session_cookie_max_age_seconds,
        timeout=settings.upstream_timeout_seconds,
    )
    web_headers = security_headers(settings.web_img_src, settings.web_connect_src)
    app = platform.create_app(
        routers=[
            _docs_router(openapi),
            session.router(),
            web_router(web_root(), web_headers),
        ],
        title="Mercato gateway",
        own_openapi=False,
    )
    app.mount(ASSETS_PATH, assets_app(web_root(), web_headers), name="assets")
    # First in the router: an API path is told apart by its prefix, before any FastAPI
    # route is tried (none of them serves under it).
    app.router.routes.insert(0, ProxyRoute(API_PREFIX, proxy, PROXIED_METHODS))
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

    return router
