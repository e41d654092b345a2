"""An OTLP/HTTP trace receiver: what a collector would get, kept for the test to read.

Accepts ``POST /v1/traces`` in protobuf (what the chassis' exporter sends) or JSON, gzip
or not, and keeps every span with its service name. Tests run it inside their event
loop; the instrumentation benchmark runs it as a process standing in for a collector:
``python -m tests.otlp PORT`` (it counts spans and answers ``GET /count``).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gzip
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web
from google.protobuf.json_format import ParseDict
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span as SpanProto

from mercato.runner.engines import free_port

KINDS = {
    SpanProto.SPAN_KIND_INTERNAL: "internal",
    SpanProto.SPAN_KIND_SERVER: "server",
    SpanProto.SPAN_KIND_CLIENT: "client",
    SpanProto.SPAN_KIND_PRODUCER: "producer",
    SpanProto.SPAN_KIND_CONSUMER: "consumer",
}


@dataclass(frozen=True)
class ReceivedSpan:
    """One exported span, ids in hex."""

    service: str
    trace_id: str
    span_id: str
    parent_id: str
    name: str
    kind: str
    attributes: dict[str, Any]
    error: bool
    resource: dict[str, Any] = field(default_factory=dict, compare=False)

    def __repr__(self) -> str:
        return f"<{self.kind} {self.service}: {self.name} {self.span_id}<-{self.parent_id}>"


@dataclass
class Receiver:
    """Spans received so far, and where to send more."""

    url: str
    spans: list[ReceivedSpan] = field(default_factory=list)
    requests: int = 0

    def trace(self, trace_id: str) -> list[ReceivedSpan]:
        """The spans of one trace."""
        return [s for s in self.spans if s.trace_id == trace_id]


def decode(body: bytes, content_type: str, encoding: str) -> ExportTraceServiceRequest:
    """An export request in protobuf or OTLP/JSON, gzip-compressed or not."""
    if encoding == "gzip":
        body = gzip.decompress(body)
    request = ExportTraceServiceRequest()
    if content_type.startswith("application/json"):
        # OTLP/JSON writes ids in hex where protobuf's JSON mapping expects base64.
        document = orjson.loads(body)
        for resource in document.get("resourceSpans", []):
            for scope in resource.get("scopeSpans", []):
                for span in scope.get("spans", []):
                    for key in ("traceId", "spanId", "parentSpanId"):
                        if span.get(key):
                            span[key] = _b64(bytes.fromhex(span[key]))
        ParseDict(document, request, ignore_unknown_fields=True)
    else:
        request.ParseFromString(body)
    return request


def spans_of(request: ExportTraceServiceRequest) -> list[ReceivedSpan]:
    """The spans of an export request."""
    received = []
    for resource_spans in request.resource_spans:
        resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                received.append(
                    ReceivedSpan(
                        service=str(resource.get("service.name", "")),
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_id=span.parent_span_id.hex(),
                        name=span.name,
                        kind=KINDS.get(span.kind, "unspecified"),
                        attributes={a.key: _value(a.value) for a in span.attributes},
                        error=span.status.code == span.status.STATUS_CODE_ERROR,
                        resource=resource,
                    )
                )
    return received


def app(receiver: Receiver, *, keep: bool = True) -> web.Application:
    """The receiver's aiohttp app; ``keep=False`` only counts (for long benchmarks)."""
    counted = 0

    async def export(request: web.Request) -> web.Response:
        nonlocal counted
        decoded = decode(
            await request.read(),
            request.headers.get("Content-Type", ""),
            request.headers.get("Content-Encoding", ""),
        )
        spans = spans_of(decoded)
        receiver.requests += 1
        counted += len(spans)
        if keep:
            receiver.spans.extend(spans)
        return web.Response(
            body=ExportTraceServiceResponse().SerializeToString(),
            content_type="application/x-protobuf",
        )

    async def count(_: web.Request) -> web.Response:
        return web.json_response({"spans": counted, "requests": receiver.requests})

    application = web.Application(client_max_size=64 * 1024 * 1024)
    application.router.add_post("/v1/traces", export)
    application.router.add_get("/count", count)
    return application


@contextlib.asynccontextmanager
async def otlp_receiver(port: int | None = None, *, keep: bool = True) -> AsyncIterator[Receiver]:
    """Serves a receiver on a free port of 127.0.0.1 while the block runs."""
    port = port or free_port()
    receiver = Receiver(url=f"http://127.0.0.1:{port}")
    runner = web.AppRunner(app(receiver, keep=keep), handle_signals=False, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield receiver
    finally:
        await runner.cleanup()


def _value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_value(v) for v in value.array_value.values]
    return getattr(value, kind) if kind else None


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


async def _serve_forever(port: int) -> None:
    async with otlp_receiver(port, keep=False):
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(_serve_forever(int(sys.argv[1])))
