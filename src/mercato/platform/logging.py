"""Structured JSON logs: one object per line, carrying the request and trace ids."""

from __future__ import annotations

import logging
import sys
import traceback
from datetime import UTC, datetime
from typing import Any

import orjson

from mercato.platform.context import current_trace, request_id_var, user_id_var

_STANDARD_ATTRS = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", (), None)).keys() | {"message", "asctime"}
)


def log_entry(record: logging.LogRecord, service: str) -> dict[str, Any]:
    """A record as the JSON object it is written as, with the context it was logged in."""
    entry: dict[str, Any] = {
        "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
        "level": record.levelname.lower(),
        "service": service,
        "logger": record.name,
        "message": record.getMessage(),
    }
    request_id = request_id_var.get()
    if request_id:
        entry["request_id"] = request_id
    trace = current_trace()
    if trace:
        entry["trace_id"] = trace.trace_id
        entry["span_id"] = trace.span_id
    user_id = user_id_var.get()
    if user_id:
        entry["user_id"] = user_id
    for key, value in record.__dict__.items():
        if key not in _STANDARD_ATTRS and not key.startswith("_"):
            entry[key] = value
    if record.exc_info:
        entry["error"] = "".join(traceback.format_exception(*record.exc_info)).strip()
    return entry


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
