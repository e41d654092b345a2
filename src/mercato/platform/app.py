"""The app factory: one :class:`Platform` wires the chassis parts a service needs.

A service's ``create_app(settings)`` builds a Platform from its catalog entry, adds
its routers, event handlers and background jobs, and gets a FastAPI app with
``/health``, ``/ready``, ``/metrics``, problem+json errors, request context and
metrics. Nothing connects before the app's lifespan starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from sqlalchemy import MetaData
from starlette.responses import Response

from mercato import catalog
from mercato.contracts.auth import ClientCredentials, Jwks, ServiceToken
from mercato.contracts.events import EVENTS
from mercato.platform import faults
from mercato.platform.db import Database
from mercato.platform.errors import (
    ServiceUnavailable,
    document_problems,
    install_error_handlers,
    problem_response,
)
from mercato.platform.events import EventBus, Handler
from mercato.platform.http import HttpClients
from mercato.platform.logshipping import LogShipper
from mercato.platform.metrics import Metrics
from mercato.platform.middleware import RequestContextMiddleware
from mercato.platform.s3 import CredentialSource, ObjectStore, credential_chain
from mercato.platform.security import (
    Audience,
    JwksCache,
    ServiceTokenProvider,
    TokenVerifier,
    route_audience,
)
from mercato.platform.settings import ServiceSettings
from mercato.platform.tracing import tracing_from_environment

log = logging.getLogger("mercato.platform")

Check = Callable[[], Awaitable[None]]
Job = Callable[[], Awaitable[None]]
READINESS_TIMEOUT = 2.0
SPAN_FLUSH_TIMEOUT = 5.0


class Platform:
    """The chassis parts of one service process, started and stopped by the app lifespan."""

    def __init__(
        self,
        settings: ServiceSettings,
        *,
        metadata: MetaData | None = None,
        handlers: Mapping[str, Handler] | None = None,
    ) -> None:
        self.settings = settings
        self.spec = settings.spec
        faults.arm(faults.parse(settings.faults))
        self.metrics = Metrics(
            self.spec.name, version=settings.version, commit=settings.commit, env=settings.env.value
        )
        self.tracing = tracing_from_environment(
            self.spec.name, version=settings.version, env=settings.env.value
        )
        self.http = HttpClients(
            caller=self.spec.name,
            base_url=settings.service_url,
            metrics=self.metrics,
            timeout=settings.http_timeout_seconds,
            connect_timeout=settings.http_connect_timeout_seconds,
            retries=settings.http_retries,
            tracing=self.tracing,
        )
        self.log_shipper: LogShipper | None = None
        if settings.log_shipping_url:
            self.log_shipper = LogShipper(
                self.spec.name, settings.log_shipping_url, metrics=self.metrics
            )
        self._checks: dict[str, Check] = {}
        self._jobs: list[tuple[str, Job]] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._startup: list[Job] = []
        # Runs last (the list is run backwards): the spans of closing down are exported too.
        self._shutdown: list[Job] = [self._stop_tracing]

        self.database: Database | None = None
        if self.spec.database:
            if not settings.database_url:
                raise ValueError(f"{self.spec.name} needs MERCATO_DATABASE_URL")
            self.database = Database(
                settings.database_url,
                metrics=self.metrics,
                pool_size=settings.db_pool_size,
                max_overflow=settings.db_max_overflow,
                pool_timeout=settings.db_pool_timeout_seconds,
                command_timeout=settings.db_command_timeout_seconds,
                tracing=self.tracing,
                source=self.spec.name,
            )
            self._checks["database"] = self.database.check
            self._shutdown.append(self.database.close)

        self.events: EventBus | None = None
        handlers = dict(handlers or {})
        _check_handlers_match_catalog(self.spec, handlers)
        if self.spec.uses_nats:
            if not settings.nats_url:
                raise ValueError(f"{self.spec.name} needs MERCATO_NATS_URL")
            if self.database is None:
                raise ValueError(f"{self.spec.name} uses events but has no database for its outbox")
            self.events = EventBus(
                service=self.spec.name,
                url=settings.nats_url,
                prefix=settings.event_prefix,
                database=self.database,
                metrics=self.metrics,
                publishes=bool(self.spec.publishes),
                handlers=handlers,
                models=EVENTS,
                tracing=self.tracing,
                stream_replicas=settings.event_stream_replicas,
            )
            self._checks["events"] = self.events.check

        self.store: ObjectStore | None = None
        if self.spec.buckets:
            credentials = _s3_credentials(settings)
            if not (settings.s3_endpoint and credentials):
                raise ValueError(
                    f"{self.spec.name} needs MERCATO_S3_ENDPOINT and either MERCATO_S3_ACCESS_KEY "
                    "and MERCATO_S3_SECRET_KEY, a web identity (AWS_ROLE_ARN and "
                    "AWS_WEB_IDENTITY_TOKEN_FILE) or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
                )
            self.store = ObjectStore(
                endpoint=settings.s3_endpoint,
                public_endpoint=settings.s3_public_endpoint,
                credentials=credentials,
            )
            self._checks["object_store"] = self._check_buckets
            self._shutdown.append(self.store.close)

        self.verifier: TokenVerifier | None = None
        if self.spec.verifies_tokens:
            self.use_token_keys(self._fetch_jwks)
        if self.spec.calls_with_own_identity:
            self.http.service_token = ServiceTokenProvider(self._fetch_service_token)
        self._shutdown.append(self.http.close)

    # -- wiring -------------------------------------------------------------

    def use_token_keys(self, fetch: Callable[[], Awaitable[dict[str, Any]]]) -> None:
        """Verifies tokens with keys from ``fetch`` (auth reads its own database)."""
        self.verifier = TokenVerifier(
            JwksCache(fetch, ttl=self.settings.jwks_cache_seconds),
            issuer=self.settings.jwt_issuer,
            audience=self.settings.jwt_audience,
        )

    def add_job(self, name: str, job: Job) -> None:
        """Runs ``job`` in the background while the service runs (restarted if it fails)."""
        self._jobs.append((name, job))

    def on_startup(self, job: Job) -> None:
        """Runs ``job`` once at start-up, after the chassis parts are up."""
        self._startup.append(job)

    def bucket(self, logical: str) -> str:
        """The real name of one of this service's buckets."""
        if logical not in self.spec.buckets:
            raise KeyError(f"{self.spec.name} has no bucket {logical!r} in the catalog")
        return self.settings.s3_bucket_prefix + logical

    # -- lifecycle ----------------------------------------------------------

    async def start(self) -> None:
        """Connects what needs connecting and starts background jobs."""
        if self.log_shipper is not None:
            self.log_shipper.start()
            logging.getLogger().addHandler(self.log_shipper)
        if self.events is not None:
            await _retry("NATS", self.events.start)
        store = self.store
        if store is not None:
            for logical in self.spec.buckets:
                bucket = self.bucket(logical)
                await _retry("S3", lambda bucket=bucket: store.ensure_bucket(bucket))  # type: ignore[misc]
        for job in self._startup:
            await job()
        for name, job in self._jobs:
            self._tasks.append(asyncio.create_task(_keep_running(name, job), name=name))

    async def stop(self) -> None:
        """Stops jobs, then closes connections."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self.events is not None:
            await self.events.stop()
        for close in reversed(self._shutdown):
            with contextlib.suppress(Exception):
                await close()
        if self.log_shipper is not None:
            # Last: the records of closing down are shipped too.
            logging.getLogger().removeHandler(self.log_shipper)
            await asyncio.to_thread(self.log_shipper.stop)

    async def readiness(self) -> dict[str, str]:
        """Runs every readiness check; maps each name to "ok" or the failure."""
        results: dict[str, str] = {}

        async def run(name: str, check: Check) -> None:
            try:
                await asyncio.wait_for(check(), READINESS_TIMEOUT)
                results[name] = "ok"
            except Exception as exc:
                results[name] = f"failing: {type(exc).__name__}: {exc}".strip()

        await asyncio.gather(*(run(n, c) for n, c in self._checks.items()))
        return results

    async def _stop_tracing(self) -> None:
        # The exporter sends synchronously; an unreachable collector must not hold the
        # shutdown past its grace period.
        if self.tracing.enabled:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.to_thread(self.tracing.shutdown), SPAN_FLUSH_TIMEOUT)

    async def _check_buckets(self) -> None:
        assert self.store is not None
        for logical in self.spec.buckets:
            if not await self.store.bucket_exists(self.bucket(logical)):
                raise ServiceUnavailable(f"bucket {self.bucket(logical)} is missing")

    async def _fetch_jwks(self) -> dict[str, Any]:
        reply = await self.http.to("auth").request("GET", f"{catalog.API_PREFIX}/auth/jwks.json")
        if not reply.ok:
            raise ServiceUnavailable(f"auth answered {reply.status} for the JWKS")
        return Jwks.model_validate(reply.json()).model_dump()

    async def _fetch_service_token(self) -> dict[str, Any]:
        secret = self.settings.client_secret
        if secret is None:
            raise RuntimeError(f"{self.spec.name} has no MERCATO_CLIENT_SECRET")
        reply = await self.http.to("auth").request(
            "POST",
            f"{catalog.API_PREFIX}/auth/token",
            json=ClientCredentials(
                grant_type="client_credentials",
                client_id=self.spec.name,
                client_secret=secret.get_secret_value(),
            ).model_dump(),
        )
        if not reply.ok:
            raise ServiceUnavailable(
                f"auth refused {self.spec.name}'s credentials ({reply.status})"
            )
        return ServiceToken.model_validate(reply.json()).model_dump()

    # -- the app ------------------------------------------------------------

    def create_app(
        self,
        *,
        routers: Sequence[APIRouter] = (),
        title: str | None = None,
        own_openapi: bool = True,
    ) -> FastAPI:
        """The service's FastAPI app with the chassis endpoints and middleware."""
        platform = self

        @contextlib.asynccontextmanager
        async def lifespan(_: FastAPI) -> AsyncIterator[None]:
            await platform.start()
            log.info("service started", extra={"port": platform.settings.port})
            try:
                yield
            finally:
                await platform.stop()
                log.info("service stopped")

        app = FastAPI(
            title=title or f"Mercato {self.spec.name}",
            summary=self.spec.summary,
            version=self.settings.version,
            lifespan=lifespan,
            openapi_url="/openapi.json" if own_openapi else None,
            docs_url="/docs" if own_openapi else None,
            redoc_url=None,
        )
        app.state.platform = self
        install_error_handlers(app)
        app.add_middleware(
            RequestContextMiddleware,
            metrics=self.metrics,
            tracing=self.tracing,
            max_bytes=self.settings.max_body_bytes,
        )
        app.include_router(self._chassis_router())
        for router in routers:
            for route in router.routes:
                if isinstance(route, APIRoute):
                    document_problems(route, protected=route_audience(route) is not Audience.PUBLIC)
            app.include_router(router)
        return app

    def _chassis_router(self) -> APIRouter:
        router = APIRouter(include_in_schema=False)

        @router.get("/health")
        async def health() -> dict[str, str]:
            return {"status": "ok", "service": self.spec.name}

        @router.get("/ready")
        async def ready(_: Request) -> Response:
            checks = await self.readiness()
            if all(v == "ok" for v in checks.values()):
                return JSONResponse(
                    {"status": "ready", "service": self.spec.name, "checks": checks}
                )
            return problem_response(
                503,
                slug="not-ready",
                title="Not ready",
                detail="A dependency of the service is not available.",
                checks=checks,
            )

        @router.get("/metrics")
        async def metrics() -> Response:
            body, content_type = self.metrics.exposition()
            return Response(body, media_type=content_type)

        return router


def _check_handlers_match_catalog(spec: catalog.Service, handlers: Mapping[str, Handler]) -> None:
    declared, handled = set(spec.consumes), set(handlers)
    if declared != handled:
        raise ValueError(
            f"{spec.name}: the catalog says it consumes {sorted(declared)} "
            f"but it handles {sorted(handled)}"
        )


async def _retry(what: str, start: Callable[[], Awaitable[None]], attempts: int = 20) -> None:
    for attempt in range(1, attempts + 1):
        try:
            await start()
            return
        except Exception:
            if attempt == attempts:
                raise
            log.warning("%s not reachable yet (attempt %d)", what, attempt)
            await asyncio.sleep(min(2.0, 0.2 * attempt))


async def _keep_running(name: str, job: Job) -> None:
    failures = 0
    while True:
        try:
            await job()
            return
        except asyncio.CancelledError:
            raise
        except Exception:
            failures += 1
            log.exception("background job %s failed; restarting", name)
            await asyncio.sleep(min(30.0, 0.5 * 2**failures))


def _s3_credentials(settings: ServiceSettings) -> CredentialSource | None:
    """The first configured S3 credential source (ADR 0024)."""
    environ = dict(os.environ)
    if settings.s3_web_identity:
        environ["AWS_ROLE_ARN"] = str(settings.aws_role_arn)
        environ["AWS_WEB_IDENTITY_TOKEN_FILE"] = str(settings.aws_web_identity_token_file)
    return credential_chain(
        access_key=settings.s3_access_key.get_secret_value() if settings.s3_access_key else None,
        secret_key=settings.s3_secret_key.get_secret_value() if settings.s3_secret_key else None,
        region=settings.s3_region,
        environ=environ,
        session_name=f"mercato-{settings.service}",
    )
