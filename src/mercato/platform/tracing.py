"""Tracing with OpenTelemetry: one trace per request, across services and events.

The chassis makes a server span for every request, a client span for every call to
another service, a span for every database statement, a producer span for every event
written to the outbox and a consumer span for every event handled; the W3C
``traceparent`` travels in HTTP headers, NATS message headers and the event envelope.

Configured by the standard ``OTEL_*`` variables and off unless an OTLP endpoint is set
(``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_ENDPOINT``). Off, the
SDK is never imported and nothing is recorded, but every request, call and event still
gets its own span id inside the incoming trace, so logs and downstream services keep
correlating.
"""

from __future__ import annotations

import logging
import os
import random
import socket
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import (
    NonRecordingSpan,
    Span,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
)
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util import types
from sqlalchemy import event
from sqlalchemy.engine import Engine

log = logging.getLogger("mercato.tracing")

PROPAGATOR = TraceContextTextMapPropagator()
TRACE_HEADERS = frozenset({"traceparent", "tracestate"})
INSTRUMENTATION = "mercato.platform"
PROTOCOL = "http/protobuf"
# Statements are exported as written (bind parameters, never values), up to this length.
MAX_STATEMENT = 2048
Links = Sequence[trace.Link] | None


class PropagatingTracer(trace.Tracer):
    """Spans that record nothing but carry their own id inside the parent's trace.

    What the chassis uses when tracing is off: a request, call or event still gets a
    span id of its own for the logs and the ``traceparent`` it passes on.
    """

    def start_span(
        self,
        name: str,
        context: Context | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: types.Attributes = None,
        links: Links = None,
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
    ) -> Span:
        """A non-recording span, child of the current (or given) one, or a new trace."""
        parent = trace.get_current_span(context).get_span_context()
        if parent.is_valid:
            return NonRecordingSpan(
                SpanContext(
                    parent.trace_id,
                    _span_id(),
                    is_remote=False,
                    trace_flags=parent.trace_flags,
                    trace_state=parent.trace_state,
                )
            )
        return NonRecordingSpan(
            SpanContext(
                random.getrandbits(128) or 1,
                _span_id(),
                is_remote=False,
                # Sampled: a downstream service that records should not drop the work
                # because this one does not.
                trace_flags=TraceFlags(TraceFlags.SAMPLED),
            )
        )

    @contextmanager  # the API's own decorator is private; the behaviour is the same
    def start_as_current_span(  # type: ignore[override]
        self,
        name: str,
        context: Context | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: types.Attributes = None,
        links: Links = None,
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
        end_on_exit: bool = True,
    ) -> Iterator[Span]:
        """The span of :meth:`start_span`, current inside the block."""
        with trace.use_span(self.start_span(name, context), end_on_exit=end_on_exit) as span:
            yield span


def _span_id() -> int:
    return random.getrandbits(64) or 1


PROPAGATING = PropagatingTracer()


class Tracing:
    """A service's tracer and, when spans are exported, the SDK provider behind it."""

    def __init__(self, tracer: trace.Tracer, provider: Any = None, endpoint: str | None = None):
        self.tracer = tracer
        self._provider = provider
        self.endpoint = endpoint

    @property
    def enabled(self) -> bool:
        """True when spans are recorded and exported."""
        return self._provider is not None

    def shutdown(self) -> None:
        """Exports what is buffered and stops the exporter (blocks: call it in a thread)."""
        if self._provider is not None:
            self._provider.shutdown()


OFF = Tracing(PROPAGATING)


def tracing_from_environment(service: str, *, version: str, env: str) -> Tracing:
    """The tracing the ``OTEL_*`` environment variables ask for; off without an endpoint."""
    environ = os.environ
    endpoint = environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or environ.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    )
    # An empty variable counts as unset, as the specification says.
    exporter = (environ.get("OTEL_TRACES_EXPORTER") or "otlp").strip().lower()
    if (environ.get("OTEL_SDK_DISABLED") or "").strip().lower() == "true" or exporter == "none":
        return OFF
    if not endpoint:
        return OFF
    if exporter != "otlp":
        raise ValueError(f"OTEL_TRACES_EXPORTER={exporter!r}: only 'otlp' and 'none' are built in")
    protocol = (
        environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or PROTOCOL
    )
    if protocol.strip().lower() != PROTOCOL:
        raise ValueError(
            f"OTLP protocol {protocol!r} is not built in: use {PROTOCOL} "
            "(the collector's port 4318)"
        )
    # The SDK and the exporter cost ~100 ms of start-up and some memory: only when used.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import OTELResourceDetector, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    # OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win over the chassis' defaults.
    resource = Resource.create(
        {
            "service.name": service,
            "service.namespace": "mercato",
            "service.version": version,
            "service.instance.id": f"{socket.gethostname()}:{os.getpid()}",
            "deployment.environment.name": env,
        }
    ).merge(OTELResourceDetector().detect())
    # The sampler comes from OTEL_TRACES_SAMPLER(_ARG), batching from OTEL_BSP_*, the
    # exporter's endpoint, headers, timeout and compression from OTEL_EXPORTER_OTLP_*.
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    tracer = provider.get_tracer(INSTRUMENTATION)
    log.info(
        "tracing on",
        extra={"otlp_endpoint": endpoint, "sampler": environ.get("OTEL_TRACES_SAMPLER", "")},
    )
    return Tracing(tracer, provider, endpoint)


def extract(headers: Mapping[str, str]) -> Context:
    """The context a ``traceparent`` (and ``tracestate``) in lower-case ``headers`` carries."""
    return PROPAGATOR.extract(headers)


def inject(carrier: MutableMapping[str, str], span: Span) -> None:
    """Writes ``span`` as ``traceparent`` (and ``tracestate``) into ``carrier``."""
    PROPAGATOR.inject(carrier, context=trace.set_span_in_context(span))


def fail(span: Span, exc: BaseException) -> None:
    """Marks ``span`` as failed by ``exc``."""
    if span.is_recording():
        span.record_exception(exc)
        span.set_attribute("error.type", type(exc).__qualname__)
        span.set_status(Status(StatusCode.ERROR, type(exc).__qualname__))


# -- database statements ---------------------------------------------------------------

_SPAN_ATTRIBUTE = "_mercato_span"


def trace_statements(engine: Engine, tracer: trace.Tracer) -> None:
    """Gives every statement run on ``engine`` inside a recorded trace a client span.

    Statements outside one (the outbox relay's polling, readiness checks, sweepers) make
    no span: they would otherwise start a trace of their own every second.
    """
    url = engine.url
    database = url.database or ""
    common: dict[str, Any] = {"db.system.name": "postgresql", "db.namespace": database}
    if url.host:
        common["server.address"] = url.host
    if url.port:
        common["server.port"] = url.port

    @event.listens_for(engine, "before_cursor_execute")
    def _before(
        conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool
    ) -> None:
        if context is None or not trace.get_current_span().is_recording():
            return
        operation = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else "SQL"
        attributes = {
            **common,
            "db.operation.name": operation,
            "db.query.text": statement[:MAX_STATEMENT],
        }
        span = tracer.start_span(
            f"{operation} {database}".strip(), kind=SpanKind.CLIENT, attributes=attributes
        )
        setattr(context, _SPAN_ATTRIBUTE, span)

    @event.listens_for(engine, "after_cursor_execute")
    def _after(
        conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool
    ) -> None:
        span = getattr(context, _SPAN_ATTRIBUTE, None)
        if span is not None:
            setattr(context, _SPAN_ATTRIBUTE, None)
            span.end()

    @event.listens_for(engine, "handle_error")
    def _error(exception_context: Any) -> None:
        context = exception_context.execution_context
        span = getattr(context, _SPAN_ATTRIBUTE, None)
        if span is not None:
            setattr(context, _SPAN_ATTRIBUTE, None)
            fail(span, exception_context.original_exception)
            span.end()
