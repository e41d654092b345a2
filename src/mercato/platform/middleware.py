"""ASGI middleware every service runs: request context and span, metrics, access log, body limit.

One pure ASGI layer does it all (ADR 0035): every layer between uvicorn and the route
costs a call, a closure and a pass over the headers per request, on every service.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
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
    """The chassis' one layer around every HTTP request.

    Sets the request id and trace context, refuses NUL characters in the path or query
    (422) and bodies over ``max_bytes`` (413, announced or streamed), traces and measures
    the request, answers an unhandled error with a 500 inside the request's context, and
    logs one access line.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: Metrics,
        tracing: Tracing = OFF,
        max_bytes: int | None = None,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.tracer = tracing.tracer
        self.max_bytes = max_bytes
        self._in_flight = metrics.http_in_flight.labels()
        # Pre-bound children by (route, method, status): bounded like the labels are.
        self._series: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._record_factory = logging.getLogRecordFactory()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = _read_headers(scope)
        path = scope["path"]
        # Probes and scrapes keep a span id for their log lines but record no span.
        quiet = path in QUIET_PATHS
        tracer = PROPAGATING if quiet else self.tracer
        parent = extract(headers) if "traceparent" in headers else Context()
        span = tracer.start_span(
            scope["method"],
            context=parent,
            kind=SpanKind.SERVER,
            record_exception=False,
            set_status_on_exception=False,
        )
        # What ``start_as_current_span(record_exception=False, set_status_on_exception=False)``
        # does, without its two generator-based context managers.
        attached = otel_context.attach(trace.set_span_in_context(span))
        try:
            await self._serve(scope, receive, send, headers, span, quiet)
        finally:
            otel_context.detach(attached)
            span.end()

    async def _serve(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        headers: dict[str, str],
        span: Span,
        quiet: bool,
    ) -> None:
        request_id = sane_request_id(headers.get("x-request-id"))
        request_id_header = (b"x-request-id", request_id.encode())
        tokens = (
            request_id_var.set(request_id),
            user_id_var.set(None),
            bearer_token_var.set(None),
        )
        status = 500
        started = False
        overflowed = False
        received = 0
        max_bytes = self.max_bytes
        began = time.perf_counter()

        async def answer(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                status, started = message["status"], True
                message["headers"] = [*message.get("headers", ()), request_id_header]
            await send(message)

        async def app_send(message: Message) -> None:
            # Once the body overflowed, whatever the app makes of the aborted read (FastAPI
            # turns it into "400 error parsing the body") is replaced by the 413 below.
            if overflowed and not started:
                return
            await answer(message)

        async def limited_receive() -> Message:
            nonlocal received, overflowed
            message = await receive()
            if max_bytes is not None and message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    overflowed = True
                    raise PayloadTooLarge(f"The body is over the limit of {max_bytes} bytes.")
            return message

        self._in_flight.inc()
        try:
            refusal = self._refusal(scope, headers)
            if refusal is not None:
                await refusal(scope, receive, answer)
                return
            try:
                await self.app(scope, limited_receive, app_send)
            except Exception as exc:
                if not overflowed or started:
                    fail(span, exc)
                    # Answer here, inside the request's context, so the 500 carries its
                    # request id (Starlette's outermost handler runs after the context is gone).
                    if started:
                        raise
                    error_log.error("unhandled error", exc_info=True)
                    await internal_error_response()(scope, receive, answer)
            if overflowed and not started:
                await self._too_large()(scope, receive, answer)
        finally:
            elapsed = time.perf_counter() - began
            self._in_flight.dec()
            route = route_template(scope)
            method = scope["method"]
            label = method if method in KNOWN_METHODS else OTHER_METHOD
            series = self._series.get((route, label, status))
            if series is None:
                series = self._bind(route, label, status)
            series[0].inc()
            series[1].observe(elapsed)
            if span.is_recording():
                _describe_server_span(span, scope, headers, label, route, status, request_id)
            level = logging.DEBUG if quiet else logging.INFO
            if access_log.isEnabledFor(level):
                self._log_access(level, method, scope["path"], route, status, elapsed)
            for var, token in zip(
                (request_id_var, user_id_var, bearer_token_var), tokens, strict=True
            ):
                var.reset(token)

    def _refusal(self, scope: Scope, headers: dict[str, str]) -> Response | None:
        """The answer to a request refused before the app sees it, if it is one."""
        length = headers.get("content-length")
        if (
            self.max_bytes is not None
            and length is not None
            and (not length.isdigit() or int(length) > self.max_bytes)
        ):
            return self._too_large()
        # PostgreSQL text cannot hold a NUL. Bodies are checked by ``Strict``; this covers
        # what FastAPI hands routes as plain ``str``.
        if "\x00" in scope["path"] or b"%00" in scope.get("query_string", b""):
            return problem_response(
                422,
                slug="validation-failed",
                title="Validation failed",
                detail="The path or query holds a NUL character.",
            )
        return None

    def _too_large(self) -> Response:
        return problem_response(
            413,
            slug="payload-too-large",
            title="Payload too large",
            detail=f"The body is over the limit of {self.max_bytes} bytes.",
        )

    def _bind(self, route: str, method: str, status: int) -> tuple[Any, Any]:
        series = (
            self.metrics.http_requests.labels(route=route, method=method, status=str(status)),
            self.metrics.http_latency.labels(route=route, method=method),
        )
        self._series[(route, method, status)] = series
        return series

    def _log_access(
        self, level: int, method: str, path: str, route: str, status: int, elapsed: float
    ) -> None:
        """One access record, handed to the handlers directly.

        ``Logger.log`` would also walk the stack for the caller's file and line, which
        the JSON line does not carry. The message is formatted here: a path may hold "%".
        """
        record = self._record_factory(
            access_log.name, level, "", 0, f"{method} {path} {status}", (), None
        )
        fields = record.__dict__
        fields["method"] = method
        fields["route"] = route
        fields["path"] = path
        fields["status"] = status
        fields["duration_ms"] = round(elapsed * 1000, 2)
        access_log.handle(record)


def _read_headers(scope: Scope) -> dict[str, str]:
    """The request's headers by lower-case name (the last one of a repeated name)."""
    return {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", ())}


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
