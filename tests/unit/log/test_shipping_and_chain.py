"""The log shipper's queue and format, and the audit chain's rules, without engines."""

from __future__ import annotations

import logging
import uuid
from dataclasses import replace
from datetime import UTC, datetime

from mercato.platform.context import request_id_var
from mercato.platform.logshipping import LogShipper, export_request
from mercato.platform.metrics import Metrics
from mercato.services.log import otlp
from mercato.services.log.chain import Link, Verifier, record_hash
from mercato.services.log.models import GENESIS_HASH


def record(message: str, level: int = logging.INFO) -> logging.LogRecord:
    return logging.LogRecord("mercato.order", level, __file__, 1, message, (), None)


def test_a_full_queue_drops_and_counts_instead_of_waiting():
    metrics = Metrics("order", version="1", commit="c", env="dev")
    shipper = LogShipper("order", "http://127.0.0.1:9/v1/logs", metrics=metrics, queue_size=2)
    for n in range(5):
        shipper.emit(record(f"line {n}"))
    exposition = metrics.exposition()[0].decode()
    assert 'mercato_log_records_dropped_total{reason="queue_full",service="order"} 3.0' in (
        exposition
    )


def test_shipped_records_read_back_as_the_log_service_stores_them():
    shipper = LogShipper("order", "http://127.0.0.1:9/v1/logs", queue_size=10)
    token = request_id_var.set("req-42")
    try:
        warning = record("stock is short", logging.WARNING)
        warning.sku = "SKU-1"
        shipper.emit(warning)
    finally:
        request_id_var.reset(token)
    entries = [shipper._queue.get_nowait()]
    resource = [{"key": "service.name", "value": {"stringValue": "order"}}]

    [row] = otlp.parse(export_request(resource, entries), "application/json")

    assert row["service"] == "order"
    assert row["level"] == "warning"
    assert row["severity"] == otlp.severity_of("warning")
    assert row["message"] == "stock is short"
    assert row["request_id"] == "req-42"
    assert row["logger"] == "mercato.order"
    assert row["attributes"]["sku"] == "SKU-1"


def chain(count: int) -> list[Link]:
    links, previous = [], GENESIS_HASH
    for seq in range(1, count + 1):
        link = Link(
            seq=seq,
            id=uuid.uuid4(),
            at=datetime(2026, 12, 2, 6, seq, tzinfo=UTC),
            actor="admin-1",
            action="auth.roles_changed",
            subject=f"user-{seq}",
            detail={"data": {"after": ["admin"], "before": ["customer"]}},
            hash="",
        )
        link = replace(link, hash=record_hash(previous, link))
        links.append(link)
        previous = link.hash
    return links


def test_an_intact_chain_verifies():
    links = chain(4)
    verifier = Verifier(previous=GENESIS_HASH)
    assert verifier.feed(links)
    assert verifier.finish(length=4, head_hash=links[-1].hash) is None
    assert verifier.checked == 4


def test_a_changed_detail_breaks_the_chain_at_that_record():
    links = chain(4)
    links[2] = replace(links[2], detail={"data": {"after": ["customer"]}})
    verifier = Verifier(previous=GENESIS_HASH)
    assert not verifier.feed(links)
    broken = verifier.finish(length=4, head_hash=links[-1].hash)
    assert broken is not None
    assert broken.seq == 3
    assert verifier.checked == 2


def test_a_record_rehashed_after_a_change_still_breaks_the_next_one():
    links = chain(3)
    forged = replace(links[1], actor="someone-else")
    links[1] = replace(forged, hash=record_hash(links[0].hash, forged))
    verifier = Verifier(previous=GENESIS_HASH)
    verifier.feed(links)
    broken = verifier.finish(length=3, head_hash=links[-1].hash)
    assert broken is not None
    assert broken.seq == 3


def test_the_hash_covers_the_previous_hash():
    link = chain(1)[0]
    assert record_hash(GENESIS_HASH, link) != record_hash("f" * 64, link)
