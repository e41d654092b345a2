"""Ships the service's log records to the log service as OTLP/HTTP JSON, batched, off the loop.

A logging handler turns each record into its JSON entry where it is logged (the request's
context lives there) and puts it on a bounded queue without waiting. A background thread
sends the queue in batches. A slow or absent log service costs a request nothing: when the
queue is full, or a batch cannot be delivered, the records are dropped and counted in
``mercato_log_records_dropped_total``; stdout keeps every line regardless (ADR 0033).
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import socket
import threading
import time
from typing import Any

import httpx
import orjson

from mercato.platform.logging import log_entry
from mercato.platform.metrics import Metrics

# OpenTelemetry severity numbers of the chassis' levels (the OTel logs data model).
SEVERITY = {"debug": 5, "info": 9, "warning": 13, "error": 17, "critical": 21}
QUEUE_SIZE = 10_000
BATCH_SIZE = 500
FLUSH_SECONDS = 0.5
SEND_TIMEOUT = 2.0
MAX_MESSAGE = 8192
# The entry's own fields that OTLP carries in its record rather than as attributes.
_RECORD_FIELDS = {"time", "level", "service", "message", "trace_id", "span_id"}
# HTTP client libraries log their requests: the shipper's own would feed it forever.
_QUIET_LOGGERS = ("httpx", "httpcore")


class LogShipper(logging.Handler):
    """A logging handler that ships records to an OTLP/HTTP logs endpoint in the background."""

    def __init__(
        self,
        service: str,
        url: str,
        *,
        metrics: Metrics | None = None,
        queue_size: int = QUEUE_SIZE,
        batch_size: int = BATCH_SIZE,
        flush_seconds: float = FLUSH_SECONDS,
        timeout: float = SEND_TIMEOUT,
    ) -> None:
        super().__init__()
        self.service = service
        self.url = url
        self._queue: queue.Queue[dict[str, Any]] = queue.Queue(maxsize=queue_size)
        self._batch_size = batch_size
        self._flush_seconds = flush_seconds
        self._timeout = timeout
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._resource = _attributes(
            {
                "service.name": service,
                "service.namespace": "mercato",
                "service.instance.id": f"{socket.gethostname()}:{os.getpid()}",
            }
        )
        self._dropped = (
            metrics.counter(
                "mercato_log_records_dropped_total",
                "Log records not shipped to the log service, by reason (queue_full, undelivered).",
                ["reason"],
                known={"reason": ("queue_full", "undelivered")},
            )
            if metrics
            else None
        )
        self._shipped = (
            metrics.counter("mercato_log_records_shipped_total", "Log records shipped.")
            if metrics
            else None
        )

    # -- the logging side (any thread, never waits) --------------------------

    def emit(self, record: logging.LogRecord) -> None:
        """Queues the record's entry; drops and counts it when the queue is full."""
        thread = self._thread
        if (thread is not None and threading.get_ident() == thread.ident) or record.name.startswith(
            _QUIET_LOGGERS
        ):
            return
        try:
            entry = log_entry(record, self.service)
            entry["_at"] = int(record.created * 1_000_000_000)
        except Exception:
            self.handleError(record)
            return
        try:
            self._queue.put_nowait(entry)
        except queue.Full:
            self._drop("queue_full", 1)

    # -- the shipping side ---------------------------------------------------

    def start(self) -> None:
        """Starts the background sender."""
        if self._thread is None:
            self._stopping.clear()
            self._thread = threading.Thread(target=self._run, name="log-shipper", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = SEND_TIMEOUT) -> None:
        """Sends what is queued (within ``timeout``), then stops the sender."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stopping.set()
            thread.join(timeout)

    def _run(self) -> None:
        with httpx.Client(timeout=self._timeout) as client:
            while not (self._stopping.is_set() and self._queue.empty()):
                batch = self._next_batch()
                if batch:
                    self._send(client, batch)

    def _next_batch(self) -> list[dict[str, Any]]:
        batch: list[dict[str, Any]] = []
        deadline = time.monotonic() + self._flush_seconds
        while len(batch) < self._batch_size:
            remaining = deadline - time.monotonic()
            if remaining <= 0 and batch:
                break
            try:
                batch.append(self._queue.get(timeout=max(remaining, 0.05)))
            except queue.Empty:
                if batch or self._stopping.is_set():
                    break
                deadline = time.monotonic() + self._flush_seconds
        return batch

    def _send(self, client: httpx.Client, batch: list[dict[str, Any]]) -> None:
        try:
            reply = client.post(
                self.url,
                content=export_request(self._resource, batch),
                headers={"content-type": "application/json"},
            )
            delivered = reply.status_code < 300
        except httpx.HTTPError:
            delivered = False
        if delivered:
            if self._shipped is not None:
                self._shipped.inc(len(batch))
        else:
            self._drop("undelivered", len(batch))

    def _drop(self, reason: str, count: int) -> None:
        if self._dropped is not None:
            with contextlib.suppress(Exception):
                self._dropped.labels(reason=reason).inc(count)


def export_request(resource: list[dict[str, Any]], entries: list[dict[str, Any]]) -> bytes:
    """An OTLP ``ExportLogsServiceRequest`` in its JSON encoding."""
    return orjson.dumps(
        {
            "resourceLogs": [
                {
                    "resource": {"attributes": resource},
                    "scopeLogs": [
                        {
                            "scope": {"name": "mercato.platform"},
                            "logRecords": [_record(e) for e in entries],
                        }
                    ],
                }
            ]
        },
        default=str,
    )


def _record(entry: dict[str, Any]) -> dict[str, Any]:
    level = str(entry.get("level", "info"))
    record: dict[str, Any] = {
        "timeUnixNano": str(entry.get("_at") or time.time_ns()),
        "severityNumber": SEVERITY.get(level, SEVERITY["info"]),
        "severityText": level,
        "body": {"stringValue": str(entry.get("message", ""))[:MAX_MESSAGE]},
        "attributes": _attributes(
            {k: v for k, v in entry.items() if k not in _RECORD_FIELDS and not k.startswith("_")}
        ),
    }
    if entry.get("trace_id"):
        record["traceId"] = entry["trace_id"]
    if entry.get("span_id"):
        record["spanId"] = entry["span_id"]
    return record


def _attributes(values: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"key": k, "value": _value(v)} for k, v in values.items() if v is not None]


def _value(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    return {"stringValue": str(value)[:MAX_MESSAGE]}
