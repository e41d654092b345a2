"""Structured JSON logs: one object per line, carrying the request and trace ids."""

from __future__ import annotations

import logging
import math
import sys
import traceback
from datetime import UTC, datetime
from typing import Any

import orjson
from opentelemetry import trace

from mercato.platform.context import request_id_var, user_id_var

_STANDARD_ATTRS = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", (), None)).keys() | {"message", "asctime"}
)


def log_entry(record: logging.LogRecord, service: str) -> dict[str, Any]:
    """A record as the JSON object it is written as, with the context it was logged in."""
    entry: dict[str, Any] = {
        "time": _timestamp(record.created),
        "level": record.levelname.lower(),
        "service": service,
        "logger": record.name,
        "message": record.getMessage(),
    }
    request_id = request_id_var.get()
    if request_id:
        entry["request_id"] = request_id
    span = trace.get_current_span().get_span_context()
    if span.is_valid:
        entry["trace_id"] = format(span.trace_id, "032x")
        entry["span_id"] = format(span.span_id, "016x")
    user_id = user_id_var.get()
    if user_id:
        entry["user_id"] = user_id
    fields = record.__dict__
    # Most records carry no extra field: one set difference (in C) tells.
    if fields.keys() - _STANDARD_ATTRS:
        for key, value in fields.items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                entry[key] = value
    if record.exc_info:
        entry["error"] = "".join(traceback.format_exception(*record.exc_info)).strip()
    return entry


# The last second formatted, and its ISO 8601 text up to the seconds (one tuple, swapped
# whole, so that a thread never reads one second's number with another's text).
_last_second: tuple[int, str] = (-1, "")


def _timestamp(created: float) -> str:
    """``created`` as ISO 8601 UTC with milliseconds, the seconds formatted once per second."""
    global _last_second
    # As datetime.fromtimestamp rounds: the fraction alone, to the microsecond.
    fraction, whole = math.modf(created)
    micro = round(fraction * 1_000_000)
    second = int(whole) + micro // 1_000_000
    micro %= 1_000_000
    cached = _last_second
    if cached[0] != second:
        text = datetime.fromtimestamp(second, UTC).isoformat(timespec="seconds")
        cached = _last_second = (second, text.removesuffix("+00:00"))
    return f"{cached[1]}.{micro // 1000:03d}+00:00"


class JsonFormatter(logging.Formatter):
    """Formats records as JSON with service, request, trace and user context."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        return orjson.dumps(log_entry(record, self.service), default=str).decode()


def configure_logging(service: str, level: str = "info") -> None:
    """Sends every log record, ours and the libraries', to stdout as JSON."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Access lines come from our own middleware, with more context than uvicorn's.
    for noisy in ("uvicorn.access",):
        logging.getLogger(noisy).disabled = True
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
