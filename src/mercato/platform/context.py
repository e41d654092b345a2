"""Per-request context: request id, W3C trace context, caller identity.

Kept in context variables so logs, outgoing calls and published events pick them up
without passing them through every function.
"""

from __future__ import annotations

import re
import secrets
import uuid
from contextvars import ContextVar
from dataclasses import dataclass

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

    def child(self) -> TraceContext:
        """A new span in the same trace."""
        return TraceContext(trace_id=self.trace_id, span_id=secrets.token_hex(8), flags=self.flags)

    @property
    def traceparent(self) -> str:
        """This context as a ``traceparent`` header value."""
        return f"00-{self.trace_id}-{self.span_id}-{self.flags}"


request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
trace_var: ContextVar[TraceContext | None] = ContextVar("trace", default=None)
user_id_var: ContextVar[str | None] = ContextVar("user_id", default=None)
bearer_token_var: ContextVar[str | None] = ContextVar("bearer_token", default=None)


def sane_request_id(candidate: str | None) -> str:
    """The client's request id if it is sane, otherwise a fresh one."""
    # fullmatch: "$" alone would let a trailing newline into logs and headers.
    if candidate and _REQUEST_ID_RE.fullmatch(candidate):
        return candidate
    return uuid.uuid4().hex


def current_request_id() -> str | None:
    """The request id of the request being served, if any."""
    return request_id_var.get()


def current_trace() -> TraceContext | None:
    """The trace context of the work being done, if any."""
    return trace_var.get()


def outgoing_traceparent() -> str:
    """A ``traceparent`` for a call or event leaving this process: a child span."""
    trace = trace_var.get()
    return (trace.child() if trace else TraceContext.new()).traceparent
