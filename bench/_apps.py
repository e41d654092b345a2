"""The small ASGI apps the benchmarks serve (imported by uvicorn or granian, not by hand).

``backend`` and ``hello`` are module-level apps; the others are factories (``--factory``)
that read ``BENCH_UPSTREAM`` or build the chassis when the server starts.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import httpx
from fastapi import APIRouter, FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

BODY = b'{"message":"hello","service":"bench"}'
HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "host", "content-length"})


async def backend(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """A raw ASGI app answering every request with a small JSON body."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": BODY})


hello = FastAPI()


@hello.get("/")
async def say_hello() -> dict[str, str]:
    """FastAPI's "hello": one route, a dict serialised to JSON."""
    return {"message": "hello", "service": "bench"}


def _upstream() -> str:
    return os.environ["BENCH_UPSTREAM"].rstrip("/")


def _forward_headers(request: Request) -> dict[str, str]:
    return {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}


def httpx_proxy() -> Starlette:
    """A minimal Starlette proxy forwarding every GET with one pooled httpx.AsyncClient."""
    upstream = _upstream()
    state: dict[str, httpx.AsyncClient] = {}

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
        async with httpx.AsyncClient(limits=limits, timeout=5.0) as client:
            state["client"] = client
            yield

    async def forward(request: Request) -> Response:
        reply = await state["client"].request(
            request.method, upstream + request.url.path, headers=_forward_headers(request)
        )
        headers = {k: v for k, v in reply.headers.items() if k.lower() not in HOP_BY_HOP}
        return Response(reply.content, status_code=reply.status_code, headers=headers)

    return Starlette(routes=[Route("/{path:path}", forward)], lifespan=lifespan)


def aiohttp_proxy() -> Starlette:
    """The same proxy with one pooled aiohttp.ClientSession, as mercato.platform.http has."""
    upstream = _upstream()
    state: dict[str, aiohttp.ClientSession] = {}

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        connector = aiohttp.TCPConnector(limit=100, keepalive_timeout=30)
        timeout = aiohttp.ClientTimeout(total=5.0)
        async with aiohttp.ClientSession(
            connector=connector, timeout=timeout, auto_decompress=False
        ) as session:
            state["session"] = session
            yield

    async def forward(request: Request) -> Response:
        async with state["session"].request(
            request.method, upstream + request.url.path, headers=_forward_headers(request)
        ) as reply:
            body = await reply.read()
            headers = {k: v for k, v in reply.headers.items() if k.lower() not in HOP_BY_HOP}
        return Response(body, status_code=reply.status, headers=headers)

    return Starlette(routes=[Route("/{path:path}", forward)], lifespan=lifespan)


def chassis_app() -> FastAPI:
    """The gateway's chassis (Platform.create_app: request context, metrics, access log,
    body limit, problem+json) around one "hello" route."""
    from mercato.platform.app import Platform
    from mercato.platform.logging import configure_logging
    from mercato.services.gateway.settings import Settings

    # BENCH_LOG_LEVEL=warning drops the access-log line, to see what it costs.
    configure_logging("gateway", os.environ.get("BENCH_LOG_LEVEL", "info"))
    router = APIRouter()

    @router.get("/hello")
    async def chassis_hello() -> dict[str, str]:
        return {"message": "hello", "service": "bench"}

    return Platform(Settings(service="gateway")).create_app(routers=[router])
