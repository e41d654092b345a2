"""ASGI middleware every service runs: request context and span, metrics, access log, body limit."""

from __future__ import annotations

import logging
import time
from typing import Any

from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mercato.platform.context import (
    bearer_token_var,
    request_id_var,
    sane_request_id,
    user_id_var,
)
from mercato.platform.errors import PayloadTooLarge, internal_error_response, problem_response
from mercato.platform.metrics import UNMATCHED_ROUTE, Metrics
from mercato.platform.tracing import OFF, PROPAGATING, Tracing, extract, fail

access_log = logging.getLogger("mercato.access")
error_log = logging.getLogger("mercato.errors")

QUIET_PATHS = frozenset({"/health", "/ready", "/metrics"})
# Methods get their own metric label; any other token a client sends shares one, since
# some HTTP parsers (h11) pass arbitrary method names through.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER_METHOD = "OTHER"
ROUTE_SCOPE_KEY = "mercato.route"


def route_template(scope: Scope) -> str:
    """The route template that served a request (bounded cardinality)."""
    explicit = scope.get(ROUTE_SCOPE_KEY)
    if explicit:
        return str(explicit)
    route = scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path else UNMATCHED_ROUTE


class RequestContextMiddleware:
    """Sets request id and trace context, traces and measures the request, logs one line."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics, tracing: Tracing = OFF) -> None:
        self.app = app
        self.metrics = metrics
        self.tracer = tracing.tracer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        method = scope["method"]
        # Probes and scrapes keep a span id for their log lines but record no span.
        quiet = scope["path"] in QUIET_PATHS
        tracer = PROPAGATING if quiet else self.tracer
        with tracer.start_as_current_span(
            method,
            context=extract(headers),
            kind=SpanKind.SERVER,
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            await self._serve(scope, receive, send, headers, span)

    async def _serve(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        headers: dict[str, str],
        span: Span,
    ) -> None:
        request_id = sane_request_id(headers.get("x-request-id"))
        tokens = (
            request_id_var.set(request_id),
            user_id_var.set(None),
            bearer_token_var.set(None),
        )
        status = 500
        status_sent = False
        began = time.perf_counter()

        async def send_with_context(message: Message) -> None:
            nonlocal status, status_sent
            if message["type"] == "http.response.start":
                status, status_sent = message["status"], True
                message.setdefault("headers", [])
                message["headers"] = [
                    *message["headers"],
                    (b"x-request-id", request_id.encode()),
                ]
            await send(message)

        self.metrics.http_in_flight.inc()
        try:
            try:
                await self.app(scope, receive, send_with_context)
            except Exception as exc:
                fail(span, exc)
                # Answer here, inside the request's context, so the 500 carries its request
                # id (Starlette's outermost handler runs after the context is gone).
                if status_sent:
                    raise
                error_log.error("unhandled error", exc_info=True)
                await internal_error_response()(scope, receive, send_with_context)
        finally:
            elapsed = time.perf_counter() - began
            self.metrics.http_in_flight.dec()
            route = route_template(scope)
            method = scope["method"]
            label = method if method in KNOWN_METHODS else OTHER_METHOD
            self.metrics.http_requests.labels(route=route, method=label, status=str(status)).inc()
            self.metrics.http_latency.labels(route=route, method=label).observe(elapsed)
            if span.is_recording():
                _describe_server_span(span, scope, headers, label, route, status, request_id)
            level = logging.DEBUG if scope["path"] in QUIET_PATHS else logging.INFO
            access_log.log(
                level,
                "%s %s %s",
                method,
                scope["path"],
                status,
                extra={
                    "method": method,
                    "route": route,
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 2),
                },
            )
            for var, token in zip(
                (request_id_var, user_id_var, bearer_token_var), tokens, strict=True
            ):
                var.reset(token)


def _describe_server_span(
    span: Span,
    scope: Scope,
    headers: dict[str, str],
    method: str,
    route: str,
    status: int,
    request_id: str,
) -> None:
    """Names the server span after its route template and adds the HTTP semantic attributes."""
    span.update_name(f"{method} {route}")
    server = scope.get("server") or (None, None)
    client = scope.get("client") or (None, None)
    attributes: dict[str, str | int] = {
        "http.request.method": method,
        "http.route": route,
        "http.response.status_code": status,
        "url.path": scope["path"],
        "url.scheme": scope.get("scheme", "http"),
        "network.protocol.version": scope.get("http_version", "1.1"),
        "mercato.request_id": request_id,
    }
    if server[0]:
        attributes["server.address"] = server[0]
        attributes["server.port"] = int(server[1] or 0)
    if client[0]:
        attributes["client.address"] = client[0]
    if "user-agent" in headers:
        attributes["user_agent.original"] = headers["user-agent"][:256]
    user_id = user_id_var.get()
    if user_id:
        attributes["enduser.id"] = user_id
    span.set_attributes(attributes)
    if status >= 500:
        # Server spans: 5xx are failures of this service, 4xx are the client's.
        span.set_status(Status(StatusCode.ERROR))


class BodyLimitMiddleware:
    """Refuses bodies over ``max_bytes`` with 413, whether announced or streamed."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = _headers(scope).get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            await self._too_large()(scope, receive, send)
            return
        received = 0
        overflowed = started = False

        async def limited_receive() -> Message:
            nonlocal received, overflowed
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    overflowed = True
                    raise PayloadTooLarge(f"The body is over the limit of {self.max_bytes} bytes.")
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            # Once the body overflowed, whatever the app makes of the aborted read (FastAPI
            # turns it into "400 error parsing the body") is replaced by the 413 below.
            if overflowed and not started:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not overflowed or started:
                raise
        if overflowed and not started:
            await self._too_large()(scope, receive, send)

    def _too_large(self) -> Response:
        return problem_response(
            413,
            slug="payload-too-large",
            title="Payload too large",
            detail=f"The body is over the limit of {self.max_bytes} bytes.",
        )


def _headers(scope: Scope) -> dict[str, Any]:
    return {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}


# OWASP's REST Security Cheat Sheet: an API's answers are never framed, sniffed or referred.
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"frame-ancestors 'none'"),
    (b"referrer-policy", b"no-referrer"),
    (b"strict-transport-security", b"max-age=31536000; includeSubDomains"),
)
# Unless the service behind says how to cache (public catalog pages may), nothing is kept.
DEFAULT_CACHE_CONTROL = (b"cache-control", b"no-store")


class SecurityHeadersMiddleware:
    """Adds the security headers to every response (the gateway's, errors included)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                added = [
                    h for h in (*SECURITY_HEADERS, DEFAULT_CACHE_CONTROL) if h[0] not in present
                ]
                message["headers"] = [*message.get("headers", []), *added]
            await send(message)

        await self.app(scope, receive, send_with_headers)


class NulRefusalMiddleware:
    """Refuses a path or query holding a NUL character with 422: PostgreSQL text cannot hold one.

    Bodies are checked by ``Strict``; this covers what FastAPI hands routes as plain ``str``.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (
            "\x00" in scope["path"] or b"%00" in scope.get("query_string", b"")
        ):
            refusal = problem_response(
                422,
                slug="validation-failed",
                title="Validation failed",
                detail="The path or query holds a NUL character.",
            )
            await refusal(scope, receive, send)
            return
        await self.app(scope, receive, send)
