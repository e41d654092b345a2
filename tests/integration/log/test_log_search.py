"""Central logs: OTLP/HTTP records in, searchable by service, level, request, time and text."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from mercato.platform.logshipping import export_request
from tests.conftest import Harness, RunningService
from tests.integration.accounts import admin, customer, scalar

INGEST = "/v1/logs"
LOGS = "/api/v1/logs"


def entry(message: str, *, level: str = "info", ago: timedelta = timedelta(0), **extra) -> dict:
    at = datetime.now(UTC) - ago
    return {
        "time": at.isoformat(),
        "_at": int(at.timestamp() * 1_000_000_000),
        "level": level,
        "logger": "mercato.test",
        "message": message,
        **extra,
    }


async def ship(log: RunningService, service: str, entries: list[dict]) -> None:
    resource = [{"key": "service.name", "value": {"stringValue": service}}]
    answer = await log.client.post(
        INGEST,
        content=export_request(resource, entries),
        headers={"content-type": "application/json"},
    )
    assert answer.status_code == 200, answer.text


async def search(log: RunningService, headers: dict, **params) -> list[dict]:
    answer = await log.client.get(LOGS, params=params, headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json()["items"]


async def started(harness: Harness) -> tuple[RunningService, dict]:
    auth = await harness.start("auth")
    log = await harness.start("log")
    return log, await admin(auth)


async def test_records_are_found_by_service_level_request_and_text(harness: Harness):
    log, root = await started(harness)
    await ship(
        log,
        "order",
        [
            entry("checkout started", request_id="req-1", user_id="u-1"),
            entry("payment declined by the processor", level="warning", request_id="req-1"),
            entry("reservation expired", level="error", request_id="req-2", sku="SKU-9"),
        ],
    )
    await ship(log, "product", [entry("listing served", request_id="req-1")])

    assert {r["service"] for r in await search(log, root, request_id="req-1")} == {
        "order",
        "product",
    }
    assert [r["message"] for r in await search(log, root, service="order", level="warning")] == [
        "reservation expired",
        "payment declined by the processor",
    ]
    found = await search(log, root, q="declined processor")
    assert [r["message"] for r in found] == ["payment declined by the processor"]
    expired = (await search(log, root, request_id="req-2"))[0]
    assert expired["level"] == "error"
    assert expired["attributes"]["sku"] == "SKU-9"
    assert (await search(log, root, request_id="req-1", service="order"))[-1]["user_id"] == "u-1"


async def test_records_come_newest_first_in_pages_and_within_a_time_window(harness: Harness):
    log, root = await started(harness)
    await ship(log, "auth", [entry(f"line {n}", ago=timedelta(minutes=n)) for n in range(5)])
    first = await log.client.get(LOGS, params={"limit": 2}, headers=root)
    body = first.json()
    assert [r["message"] for r in body["items"]] == ["line 0", "line 1"]
    second = await log.client.get(
        LOGS, params={"limit": 2, "cursor": body["next_cursor"]}, headers=root
    )
    assert [r["message"] for r in second.json()["items"]] == ["line 2", "line 3"]

    now = datetime.now(UTC)
    window = await search(
        log,
        root,
        service="auth",
        since=(now - timedelta(minutes=3, seconds=30)).isoformat(),
        until=(now - timedelta(minutes=1, seconds=30)).isoformat(),
    )
    assert [r["message"] for r in window] == ["line 2", "line 3"]


async def test_protobuf_export_requests_are_accepted(harness: Harness):
    log, root = await started(harness)
    request = ExportLogsServiceRequest(
        resource_logs=[
            ResourceLogs(
                resource=Resource(
                    attributes=[KeyValue(key="service.name", value=AnyValue(string_value="edge"))]
                ),
                scope_logs=[
                    ScopeLogs(
                        log_records=[
                            LogRecord(
                                time_unix_nano=time.time_ns(),
                                severity_number=17,
                                severity_text="ERROR",
                                body=AnyValue(string_value="upstream refused"),
                                trace_id=bytes.fromhex("0af7651916cd43dd8448eb211c80319c"),
                                attributes=[
                                    KeyValue(key="request_id", value=AnyValue(string_value="p-1"))
                                ],
                            )
                        ]
                    )
                ],
            )
        ]
    )
    answer = await log.client.post(
        INGEST,
        content=request.SerializeToString(),
        headers={"content-type": "application/x-protobuf"},
    )
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/x-protobuf"
    [record] = await search(log, root, request_id="p-1")
    assert record["service"] == "edge"
    assert record["level"] == "error"
    assert record["trace_id"] == "0af7651916cd43dd8448eb211c80319c"


async def test_a_malformed_export_is_refused_and_stores_nothing(harness: Harness):
    log, _ = await started(harness)
    answer = await log.client.post(
        INGEST, content=b'{"resourceLogs": 3', headers={"content-type": "application/json"}
    )
    assert answer.status_code == 400
    assert answer.headers["content-type"] == "application/problem+json"
    assert await scalar(log, "SELECT count(*) FROM log_records WHERE service = 'x'") == 0


async def test_log_search_is_for_administrators_and_checks_its_filters(harness: Harness):
    auth = await harness.start("auth")
    log = await harness.start("log")
    shopper = await customer(auth)
    root = await admin(auth)
    assert (await log.client.get(LOGS, headers=shopper)).status_code == 403
    assert (await log.client.get(LOGS)).status_code == 401
    assert (await log.client.get(LOGS, params={"level": "loud"}, headers=root)).status_code == 422
    assert (await log.client.get(LOGS, params={"cursor": "%%"}, headers=root)).status_code == 422
    naive = {"since": "2026-12-01T00:00:00"}
    assert (await log.client.get(LOGS, params=naive, headers=root)).status_code == 422
    assert (await log.client.get("/api/v1/audit", params=naive, headers=root)).status_code == 422


async def test_records_older_than_the_retention_period_are_deleted(harness: Harness):
    auth = await harness.start("auth")
    log = await harness.start("log", log_retention_days=7)
    root = await admin(auth)
    await ship(
        log,
        "user",
        [entry("last week", ago=timedelta(days=8)), entry("today", ago=timedelta(hours=1))],
    )
    assert await log.app.state.log_store.purge_expired() == 1
    assert [r["message"] for r in await search(log, root, service="user")] == ["today"]
