"""OTLP/HTTP logs in: ``ExportLogsServiceRequest`` as JSON or protobuf, to rows to store.

The chassis ships OTLP JSON; protobuf is accepted too, so any OpenTelemetry SDK or the
collector (forwarding container logs on Kubernetes) can send here unchanged.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import orjson
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from mercato.platform.errors import BadRequest
from mercato.platform.logshipping import MAX_MESSAGE, SEVERITY

PROTOBUF = "application/x-protobuf"
# Attributes that have their own column rather than a place in ``attributes``.
COLUMNS = {"request_id", "trace_id", "user_id", "logger"}


def severity_of(level: str) -> int:
    """The severity number of a level name (``warn`` and ``fatal`` included)."""
    name = level.lower()
    name = {"warn": "warning", "fatal": "critical", "trace": "debug"}.get(name, name)
    return SEVERITY.get(name, SEVERITY["info"])


def level_of(severity: int) -> str:
    """The level name of a severity number."""
    return next(
        (n for n, s in sorted(SEVERITY.items(), key=lambda i: -i[1]) if severity >= s), "debug"
    )


def parse(body: bytes, content_type: str) -> list[dict[str, Any]]:
    """The log records of an OTLP export request, as rows of ``log_records``; 400 if malformed."""
    try:
        if content_type.split(";")[0].strip().lower() == PROTOBUF:
            message = ExportLogsServiceRequest()
            message.ParseFromString(body)
            document = json_format.MessageToDict(message, use_integers_for_enums=True)
            binary_ids = True
        else:
            document = orjson.loads(body)
            binary_ids = False
        return [
            row
            for resource_logs in document.get("resourceLogs", [])
            for row in _resource_rows(resource_logs, binary_ids=binary_ids)
        ]
    except (DecodeError, orjson.JSONDecodeError, AttributeError, TypeError, ValueError) as exc:
        raise BadRequest(f"Not an OTLP logs export request: {exc}") from None


def _resource_rows(resource_logs: dict[str, Any], *, binary_ids: bool) -> list[dict[str, Any]]:
    resource = _attributes(resource_logs.get("resource", {}).get("attributes", []))
    service = str(resource.get("service.name") or "unknown")[:64]
    rows = []
    for scope_logs in resource_logs.get("scopeLogs", []):
        scope = str(scope_logs.get("scope", {}).get("name") or "") or None
        for record in scope_logs.get("logRecords", []):
            rows.append(_row(record, service, scope, binary_ids=binary_ids))
    return rows


def _row(
    record: dict[str, Any], service: str, scope: str | None, *, binary_ids: bool
) -> dict[str, Any]:
    attributes = _attributes(record.get("attributes", []))
    nanos = int(record.get("timeUnixNano") or record.get("observedTimeUnixNano") or 0)
    at = datetime.fromtimestamp(nanos / 1e9, UTC) if nanos else datetime.now(UTC)
    severity = int(record.get("severityNumber") or 0)
    text = record.get("severityText")
    if not severity:
        severity = severity_of(str(text or "info"))
    trace_id = record.get("traceId") or attributes.get("trace_id")
    if trace_id and binary_ids:
        trace_id = base64.b64decode(trace_id).hex()
    body = record.get("body", {})
    message = _value(body) if body else ""
    return {
        "at": at,
        "service": service,
        "level": str(text).lower() if text else level_of(severity),
        "severity": severity,
        "logger": _short(attributes.get("logger") or scope, 200),
        "message": str(message if message is not None else "")[:MAX_MESSAGE],
        "request_id": _short(attributes.get("request_id"), 200),
        "trace_id": _short(trace_id, 32),
        "user_id": _short(attributes.get("user_id"), 100),
        "attributes": {k: v for k, v in attributes.items() if k not in COLUMNS},
    }


def _short(value: Any, limit: int) -> str | None:
    return str(value)[:limit] if value else None


def _attributes(pairs: list[dict[str, Any]]) -> dict[str, Any]:
    return {str(p["key"]): _value(p.get("value", {})) for p in pairs}


def _value(value: dict[str, Any]) -> Any:
    """An OTLP ``AnyValue`` as plain JSON."""
    if "stringValue" in value:
        return value["stringValue"]
    if "intValue" in value:
        return int(value["intValue"])
    if "doubleValue" in value:
        return float(value["doubleValue"])
    if "boolValue" in value:
        return bool(value["boolValue"])
    if "arrayValue" in value:
        return [_value(v) for v in value["arrayValue"].get("values", [])]
    if "kvlistValue" in value:
        return _attributes(value["kvlistValue"].get("values", []))
    return None
