"""Request context: request ids, W3C trace context, and JSON log lines carrying both."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from mercato.platform.context import (
    TraceContext,
    current_trace,
    request_id_var,
    sane_request_id,
    user_id_var,
)
from mercato.platform.logging import JsonFormatter, configure_logging
from mercato.platform.tracing import PROPAGATING
from tests.chassis import captured_logs, in_trace, served, tiny_app

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{SPAN_ID}-01"


# -- request ids -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "candidate", ["abc", "req-42", "a.b:c_d-e", "0f" * 64, "6f1c0e4e-2d3b-4b1e-9d55-0d1a2b3c4d5e"]
)
def test_a_sane_request_id_is_kept(candidate):
    assert sane_request_id(candidate) == candidate


@pytest.mark.parametrize(
    "candidate",
    [
        None,
        "",
        "x" * 129,
        "has space",
        "new\nline",
        "trailing-newline\n",
        "semi;colon",
        'quote"',
        "<script>",
        "ünïcode",
        "tab\tbed",
    ],
)
def test_an_insane_request_id_is_replaced(candidate):
    replaced = sane_request_id(candidate)
    assert replaced != candidate
    assert sane_request_id(replaced) == replaced
    assert len(replaced) == 32


def test_replacements_are_unique():
    assert len({sane_request_id(None) for _ in range(100)}) == 100


# -- trace context ---------------------------------------------------------------------


def test_a_valid_traceparent_is_parsed():
    parsed = TraceContext.parse(TRACEPARENT)
    assert parsed == TraceContext(trace_id=TRACE_ID, span_id=SPAN_ID, flags="01")
    assert parsed.traceparent == TRACEPARENT


def test_sampling_flags_are_kept():
    assert TraceContext.parse(f"00-{TRACE_ID}-{SPAN_ID}-00").flags == "00"


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "garbage",
        f"00-{TRACE_ID}-{SPAN_ID}",
        f"00-{TRACE_ID[:-1]}-{SPAN_ID}-01",
        f"00-{TRACE_ID}-{SPAN_ID}0-01",
        f"00-{TRACE_ID}-{SPAN_ID}-1",
        f"00-{'g' * 32}-{SPAN_ID}-01",
        f"ff-{TRACE_ID}-{SPAN_ID}-01",
        f"00-{'0' * 32}-{SPAN_ID}-01",
        f"00-{TRACE_ID}-{'0' * 16}-01",
        f"00-{TRACE_ID}-{SPAN_ID}-01-extra",
        f"00_{TRACE_ID}_{SPAN_ID}_01",
    ],
)
def test_an_invalid_traceparent_is_ignored(header):
    assert TraceContext.parse(header) is None


def test_a_new_trace_is_well_formed():
    trace = TraceContext.new()
    assert TraceContext.parse(trace.traceparent) == trace


def test_the_current_trace_is_the_current_span():
    with in_trace(TraceContext.parse(TRACEPARENT)):
        assert current_trace() == TraceContext(TRACE_ID, SPAN_ID, "01")
    with in_trace(None):
        assert current_trace() is None


def test_a_span_started_inside_a_trace_is_a_child_of_the_current_span():
    # Tracing off: spans record nothing but each still gets its own id in the trace.
    with in_trace(TraceContext.parse(TRACEPARENT)), PROPAGATING.start_as_current_span("x"):
        inside = current_trace()
    assert inside is not None
    assert inside.trace_id == TRACE_ID
    assert inside.span_id != SPAN_ID
    assert inside.flags == "01"
    assert TraceContext.parse(inside.traceparent) == inside


def test_a_span_keeps_the_parents_sampling_flags():
    with (
        in_trace(TraceContext.parse(f"00-{TRACE_ID}-{SPAN_ID}-00")),
        PROPAGATING.start_as_current_span("x"),
    ):
        inside = current_trace()
    assert inside is not None
    assert inside.flags == "00"


def test_a_span_started_outside_any_trace_starts_one():
    with in_trace(None), PROPAGATING.start_as_current_span("x"):
        first = current_trace()
    with in_trace(None), PROPAGATING.start_as_current_span("x"):
        second = current_trace()
    assert first is not None
    assert second is not None
    assert TraceContext.parse(first.traceparent) == first
    assert first.trace_id != second.trace_id


# -- JSON logs -------------------------------------------------------------------------


def test_log_lines_are_json_with_request_trace_and_user_ids():
    formatter = JsonFormatter("shop")
    tokens = (request_id_var.set("req-1"), user_id_var.set("user-9"))
    try:
        record = logging.LogRecord(
            "mercato.x", logging.WARNING, __file__, 1, "hi %s", ("you",), None
        )
        record.order_id = "o-1"
        with in_trace(TraceContext.parse(TRACEPARENT)):
            line = json.loads(formatter.format(record))
    finally:
        for var, token in zip((request_id_var, user_id_var), tokens, strict=True):
            var.reset(token)
    assert line["message"] == "hi you"
    assert line["level"] == "warning"
    assert line["service"] == "shop"
    assert line["logger"] == "mercato.x"
    assert line["request_id"] == "req-1"
    assert line["trace_id"] == TRACE_ID
    assert line["span_id"] == SPAN_ID
    assert line["user_id"] == "user-9"
    assert line["order_id"] == "o-1"
    assert line["time"].endswith("+00:00")


def test_a_logged_exception_stays_on_one_line():
    formatter = JsonFormatter("shop")
    try:
        raise ValueError("bad")
    except ValueError:
        record = logging.LogRecord(
            "x", logging.ERROR, __file__, 1, "failed", (), exc_info=__import__("sys").exc_info()
        )
    out = formatter.format(record)
    assert "\n" not in out
    assert "ValueError: bad" in json.loads(out)["error"]


def test_configure_logging_sends_json_lines_to_stdout(capsys):
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        configure_logging("shop", "info")
        logging.getLogger("anything").info("hello", extra={"k": 1})
        logging.getLogger("anything").debug("not shown")
    finally:
        root.handlers[:], _ = saved[0], root.setLevel(saved[1])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines == [
        {
            "time": lines[0]["time"],
            "level": "info",
            "service": "shop",
            "logger": "anything",
            "message": "hello",
            "k": 1,
        }
    ]


# -- through a served app --------------------------------------------------------------


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with served(tiny_app()) as url, httpx.AsyncClient(base_url=url) as http:
        yield http


async def test_a_sane_request_id_is_echoed_and_used(client):
    response = await client.get("/api/v1/items/1", headers={"X-Request-ID": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"
    assert response.json()["request_id"] == "abc-123"


@pytest.mark.parametrize("insane", ["x" * 200, "bad id", "a;b", "caf\xe9".encode("latin-1")])
async def test_an_insane_request_id_is_replaced_end_to_end(client, insane):
    response = await client.get("/api/v1/items/1", headers={"X-Request-ID": insane})
    echoed = response.headers["x-request-id"]
    assert echoed != (insane.decode("latin-1") if isinstance(insane, bytes) else insane)
    assert sane_request_id(echoed) == echoed
    assert response.json()["request_id"] == echoed


async def test_a_request_without_id_gets_one(client):
    response = await client.get("/api/v1/items/1")
    assert response.headers["x-request-id"] == response.json()["request_id"]
    assert len(response.headers.get_list("x-request-id")) == 1


async def test_an_incoming_traceparent_makes_a_child_span(client):
    body = (await client.get("/api/v1/items/1", headers={"traceparent": TRACEPARENT})).json()
    assert body["trace_id"] == TRACE_ID
    assert body["span_id"] != SPAN_ID


@pytest.mark.parametrize("header", ["junk", f"00-{'0' * 32}-{SPAN_ID}-01"])
async def test_an_invalid_traceparent_starts_a_new_trace(client, header):
    body = (await client.get("/api/v1/items/1", headers={"traceparent": header})).json()
    assert body["trace_id"] not in (None, TRACE_ID, "0" * 32)


async def test_the_access_line_is_json_with_request_and_trace_ids(client):
    with captured_logs("mercato.access", JsonFormatter("gateway")) as logs:
        await client.get(
            "/api/v1/items/77", headers={"X-Request-ID": "req-log", "traceparent": TRACEPARENT}
        )
    line = json.loads(logs.lines[-1])
    assert line["request_id"] == "req-log"
    assert line["trace_id"] == TRACE_ID
    assert line["service"] == "gateway"
    assert line["route"] == "/api/v1/items/{item_id}"
    assert line["path"] == "/api/v1/items/77"
    assert line["status"] == 200
    assert line["method"] == "GET"
    assert isinstance(line["duration_ms"], float)


async def test_an_unhandled_error_is_logged_with_the_request_id(client):
    with captured_logs("mercato", JsonFormatter("gateway")) as logs:
        response = await client.get("/api/v1/items/boom", headers={"X-Request-ID": "req-boom"})
    assert response.status_code == 500
    errors = [json.loads(x) for x in logs.lines if json.loads(x)["level"] == "error"]
    assert len(errors) == 1
    assert errors[0]["request_id"] == "req-boom"
    assert "RuntimeError" in errors[0]["error"]


@pytest.mark.parametrize(
    "created",
    [0.0, 1_790_000_000.0, 1_790_000_000.9995, 1_790_000_000.9999996, 1_794_815_978.9949994],
)
def test_log_times_read_as_iso_8601_utc_with_milliseconds(created):
    formatter = JsonFormatter("shop")
    record = logging.LogRecord("shop", logging.INFO, "", 0, "hello", (), None)
    record.created = created
    expected = datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")
    assert json.loads(formatter.format(record))["time"] == expected
