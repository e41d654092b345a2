"""Per-request context: request id, W3C trace context, caller identity.

Kept in context variables so logs, outgoing calls and published events pick them up
without passing them through every function. The trace context is OpenTelemetry's
current span (see :mod:`mercato.platform.tracing`).
"""

from __future__ import annotations

import os
import re
import secrets
from contextvars import ContextVar
from dataclasses import dataclass

from opentelemetry import trace

_REQUEST_ID_RE = re.compile(r"[A-Za-z0-9._:\-]{1,128}")
_TRACEPARENT_RE = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


@dataclass(frozen=True)
class TraceContext:
    """A W3C trace context: the trace, the current span and its flags."""

    trace_id: str
    span_id: str
    flags: str = "01"

    @classmethod
    def new(cls) -> TraceContext:
        """Starts a new trace."""
        return cls(trace_id=secrets.token_hex(16), span_id=secrets.token_hex(8))

    @classmethod
    def parse(cls, header: str | None) -> TraceContext | None:
        """Reads a ``traceparent`` header; None when absent or malformed."""
        if not header:
            return None
        match = _TRACEPARENT_RE.match(header.strip().lower())
        if not match or match.group(1) == "0" * 32 or match.group(2) == "0" * 16:
            return None
        return cls(trace_id=match.group(1), span_id=match.group(2), flags=match.group(3))

    @classmethod
    def of(cls, span: trace.SpanContext) -> TraceContext | None:
        """An OpenTelemetry span context as a TraceContext; None when it is invalid."""
        if not span.is_valid:
            return None
        return cls(f"{span.trace_id:032x}", f"{span.span_id:016x}", f"{span.trace_flags:02x}")

    @property
    def traceparent(self) -> str:
        """This context as a ``traceparent`` header value."""
        return f"00-{self.trace_id}-{self.span_id}-{self.flags}"


request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
user_id_var: ContextVar[str | None] = ContextVar("user_id", default=None)
bearer_token_var: ContextVar[str | None] = ContextVar("bearer_token", default=None)


def sane_request_id(candidate: str | None) -> str:
    """The client's request id if it is sane, otherwise a fresh one."""
    # fullmatch: "$" alone would let a trailing newline into logs and headers.
    if candidate and _REQUEST_ID_RE.fullmatch(candidate):
        return candidate
    # 32 random hex digits, as uuid4().hex gave, without building a UUID per request.
    return os.urandom(16).hex()


def current_request_id() -> str | None:
    """The request id of the request being served, if any."""
    return request_id_var.get()


def current_trace() -> TraceContext | None:
    """The trace context of the work being done (the current span), if any."""
    return TraceContext.of(trace.get_current_span().get_span_context())
