"""Helpers for tests of the chassis: a tiny service app served by uvicorn on a real port."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import uvicorn
from fastapi import APIRouter, FastAPI, Request
from opentelemetry import context as otel_context
from opentelemetry import trace
from pydantic import BaseModel, Field

from mercato.catalog import API_PREFIX
from mercato.platform.app import Platform
from mercato.platform.context import TraceContext, current_request_id, current_trace
from mercato.platform.errors import Conflict
from mercato.platform.settings import ServiceSettings
from mercato.runner.engines import free_port

# Text an unhandled error carries that must never reach a client.
LEAKY_ERROR_TEXT = "SELECT password_hash FROM users -- internal detail"


class ItemCreate(BaseModel):
    """The body of the test route that validates input."""

    name: str = Field(min_length=1)
    quantity: int = Field(gt=0)


def test_router() -> APIRouter:
    """Routes that exercise every kind of failure the chassis maps."""
    router = APIRouter(prefix=f"{API_PREFIX}/items")

    @router.post("", status_code=201)
    async def create(body: ItemCreate) -> dict[str, Any]:
        return body.model_dump()

    @router.post("/raw")
    async def raw(request: Request) -> dict[str, int]:
        return {"received": len(await request.body())}

    @router.get("/boom")
    async def boom() -> None:
        raise RuntimeError(LEAKY_ERROR_TEXT)

    @router.get("/conflict")
    async def conflict() -> None:
        raise Conflict("That item exists already.", item="x")

    @router.get("/{item_id}")
    async def read(item_id: str) -> dict[str, Any]:
        trace = current_trace()
        return {
            "item_id": item_id,
            "request_id": current_request_id(),
            "trace_id": trace.trace_id if trace else None,
            "span_id": trace.span_id if trace else None,
        }

    return router


# Not a test, whatever its name says.
test_router.__test__ = False  # type: ignore[attr-defined]


@contextlib.contextmanager
def in_trace(trace_context: TraceContext | None) -> Iterator[None]:
    """Makes ``trace_context`` the current span, as a request carrying it would (None: no trace)."""
    if trace_context is None:
        token = otel_context.attach(otel_context.Context())
    else:
        span = trace.NonRecordingSpan(
            trace.SpanContext(
                int(trace_context.trace_id, 16),
                int(trace_context.span_id, 16),
                is_remote=True,
                trace_flags=trace.TraceFlags(int(trace_context.flags, 16)),
            )
        )
        token = otel_context.attach(trace.set_span_in_context(span, otel_context.Context()))
    try:
        yield
    finally:
        otel_context.detach(token)


def gateway_settings(**overrides: Any) -> ServiceSettings:
    """Settings of a service without database, events or buckets."""
    values: dict[str, Any] = {"port": free_port(), "max_body_bytes": 1024}
    values.update(overrides)
    return ServiceSettings.for_service("gateway", **values)


def tiny_app(settings: ServiceSettings | None = None) -> FastAPI:
    """A chassis app (catalog service ``gateway``) with the test routes."""
    platform = Platform(settings or gateway_settings())
    return platform.create_app(routers=[test_router()])


@contextlib.asynccontextmanager
async def served(
    app: FastAPI, port: int | None = None, *, http: str = "auto"
) -> AsyncIterator[str]:
    """Serves ``app`` with uvicorn on a free port; yields its base URL."""
    port = port or app.state.platform.settings.port
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_config=None,
        lifespan="on",
        http=http,
        proxy_headers=False,  # as the server runs it: the socket peer stays as it is
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("the test app did not start")
            await asyncio.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


class Captured(logging.Handler):
    """Keeps formatted records of one logger."""

    def __init__(self, formatter: logging.Formatter) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(formatter)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@contextlib.contextmanager
def captured_logs(logger_name: str, formatter: logging.Formatter) -> Iterator[Captured]:
    """Captures the formatted lines ``logger_name`` emits while the block runs."""
    handler = Captured(formatter)
    logger = logging.getLogger(logger_name)
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)
