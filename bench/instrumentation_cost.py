r"""What do metrics and tracing cost? One chassis route with them off and on, side by side.

The app is the gateway's chassis (``Platform.create_app``: request context, RED metrics,
one JSON access-log line, body limit, problem+json) around one "hello" route, served by
uvicorn as the services run. Four servers run at once:

- ``bare``: metrics and tracing off (the middleware's metric updates replaced by no-ops);
- ``metrics``: metrics on, tracing off: the default without an OTLP endpoint, where
  every request still gets a span id of its own for its log line;
- ``metrics+tracing``: metrics on, every request traced and exported over OTLP/HTTP;
- ``metrics+tracing 10%``: the same with ``parentbased_traceidratio`` at 0.1.

Spans go to a local OTLP/HTTP receiver (``tests/otlp.py`` as its own process, standing in
for a collector; it decodes and counts). wrk loads one server at a time, interleaved,
several rounds; the table quotes medians, the server's CPU time per request (the figure
a busy shared machine disturbs least), spans received per request, and a scrape of
``/metrics`` (duration and series) after the load. Then, in this process, where a traced
request's CPU goes: a span that records nothing (tracing off), an SDK span sampled out,
a recorded server span with the chassis' attributes, and encoding it as OTLP protobuf.

Run (wrk comes from Debian: apt-get update && apt-get install -y wrk):

    .venv/bin/python bench/instrumentation_cost.py --duration 10 --rounds 3 --json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
import urllib.request
from typing import Any

from _common import (
    BENCH_DIR,
    PYTHON,
    Child,
    Processes,
    Series,
    free_port,
    interleaved,
    machine_state,
    main_guard,
    print_table,
    progress,
    require,
    run_wrk,
    uvicorn_command,
    wait_http,
    write_results,
)

PATH = "/hello"
VARIANTS: dict[str, dict[str, str]] = {
    "bare": {"BENCH_METRICS": "off"},
    "metrics": {},
    "metrics+tracing": {"OTEL_TRACES_SAMPLER": "parentbased_always_on"},
    "metrics+tracing 10%": {
        "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
        "OTEL_TRACES_SAMPLER_ARG": "0.1",
    },
}
TRACED = ("metrics+tracing", "metrics+tracing 10%")


class _Null:
    """Takes any metric call and does nothing."""

    def __getattr__(self, _: str) -> Any:
        return self

    def __call__(self, *_: Any, **__: Any) -> _Null:
        return self


def instrumented_app() -> Any:
    """The chassis "hello" app; ``BENCH_METRICS=off`` skips the middleware's metric updates."""
    from fastapi import APIRouter
    from starlette.middleware import Middleware

    from mercato.platform.app import Platform
    from mercato.platform.logging import configure_logging
    from mercato.platform.middleware import RequestContextMiddleware
    from mercato.services.gateway.settings import Settings

    configure_logging("gateway", "info")
    router = APIRouter()

    @router.get(PATH)
    async def hello() -> dict[str, str]:
        return {"message": "hello", "service": "bench"}

    app = Platform(Settings(service="gateway")).create_app(routers=[router])
    if os.environ.get("BENCH_METRICS") == "off":
        app.user_middleware = [
            Middleware(m.cls, *m.args, **{**m.kwargs, "metrics": _Null()})
            if m.cls is RequestContextMiddleware
            else m
            for m in app.user_middleware
        ]
    return app


SERVER_ATTRIBUTES: dict[str, str | int] = {
    "http.request.method": "GET",
    "http.route": PATH,
    "http.response.status_code": 200,
    "url.path": PATH,
    "url.scheme": "http",
    "network.protocol.version": "1.1",
    "mercato.request_id": "0f" * 16,
    "server.address": "127.0.0.1",
    "server.port": 8080,
    "client.address": "127.0.0.1",
    "user_agent.original": "wrk",
}


def span_parts(count: int = 20_000) -> dict[str, float]:
    """CPU microseconds per span of each part of tracing, measured in this process."""
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import (
        SimpleSpanProcessor,
        SpanExporter,
        SpanExportResult,
    )
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
    from opentelemetry.trace import SpanKind

    from mercato.platform.tracing import PROPAGATING

    kept: list[Any] = []

    class Keep(SpanExporter):
        def export(self, spans: Any) -> Any:
            kept.extend(spans)
            return SpanExportResult.SUCCESS

    recording = TracerProvider()
    recording.add_span_processor(SimpleSpanProcessor(Keep()))

    def per_span(tracer: Any) -> float:
        began = time.process_time()
        for _ in range(count):
            with tracer.start_as_current_span("GET", kind=SpanKind.SERVER) as span:
                if span.is_recording():
                    span.update_name(f"GET {PATH}")
                    span.set_attributes(SERVER_ATTRIBUTES)
        return (time.process_time() - began) / count * 1e6

    parts = {
        "tracing off (span id only)": min(per_span(PROPAGATING) for _ in range(3)),
        "SDK, sampled out": min(
            per_span(TracerProvider(sampler=ALWAYS_OFF).get_tracer("bench")) for _ in range(3)
        ),
        "SDK, recorded with attributes": min(
            per_span(recording.get_tracer("bench")) for _ in range(3)
        ),
    }
    batch = kept[:512]
    timings = []
    for _ in range(5):
        began = time.process_time()
        encode_spans(batch).SerializePartialToString()
        timings.append((time.process_time() - began) / len(batch) * 1e6)
    parts["OTLP protobuf encoding"] = min(timings)
    return parts


def spans_received(url: str) -> int:
    """Spans the receiver has counted so far."""
    with urllib.request.urlopen(f"{url}/count", timeout=5) as answer:  # noqa: S310 (loopback)
        return int(json.loads(answer.read())["spans"])


def scrape(url: str, times: int = 20) -> tuple[float, int]:
    """Median milliseconds of a ``/metrics`` scrape, and the series it exposes."""
    durations = []
    body = b""
    for _ in range(times):
        began = time.perf_counter()
        with urllib.request.urlopen(f"{url}/metrics", timeout=5) as answer:  # noqa: S310
            body = answer.read()
        durations.append((time.perf_counter() - began) * 1000)
    series = sum(1 for line in body.decode().splitlines() if line and not line.startswith("#"))
    return statistics.median(durations), series


def main() -> int:
    """Runs the comparison and prints the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="runs of every variant")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections")
    parser.add_argument("--json", action="store_true", help="also write bench/results/*.json")
    parser.add_argument("--parts-only", action="store_true", help="only the in-process parts")
    args = parser.parse_args()
    if args.parts_only:
        print_table(["part", "CPU us/span"], [[k, v] for k, v in span_parts().items()])
        return 0
    require("wrk")

    series = {variant: Series() for variant in VARIANTS}
    spans: dict[str, list[float]] = {variant: [] for variant in TRACED}
    idle_rss: dict[str, float] = {}
    loaded_rss: dict[str, float] = {}
    scrapes: dict[str, tuple[float, int]] = {}
    with Processes() as processes:
        receiver_port = free_port()
        receiver = processes.start(
            "otlp-receiver",
            [PYTHON, "-m", "tests.otlp", str(receiver_port)],
            cwd=BENCH_DIR.parent,
        )
        receiver_url = f"http://127.0.0.1:{receiver_port}"
        wait_http(f"{receiver_url}/count", receiver)
        urls: dict[str, str] = {}
        children: dict[str, Child] = {}
        for variant, env in VARIANTS.items():
            port = free_port()
            clean = {k: "" for k in os.environ if k.startswith("OTEL_")}
            if variant in TRACED:
                env = {**env, "OTEL_EXPORTER_OTLP_ENDPOINT": receiver_url}
            children[variant] = processes.start(
                variant.replace(" ", "-").replace("+", "-").replace("%", "pct"),
                uvicorn_command("instrumentation_cost:instrumented_app", port, factory=True),
                env={**clean, **env},
            )
            urls[variant] = f"http://127.0.0.1:{port}"
        for variant, child in children.items():
            wait_http(urls[variant] + PATH, child)
            idle_rss[variant] = child.rss_mib()

        before = machine_state()
        for variant in VARIANTS:  # warm-up
            run_wrk(urls[variant] + PATH, connections=args.connections, duration=2)
        time.sleep(6)  # the warm-up's spans are exported before the first count
        for round_no, variant in interleaved(list(VARIANTS), args.rounds):
            child = children[variant]
            counted = spans_received(receiver_url) if variant in TRACED else 0
            result = run_wrk(
                urls[variant] + PATH,
                connections=args.connections,
                duration=args.duration,
                watch=[child],
            )
            series[variant].runs.append(result)
            if variant in TRACED:
                time.sleep(6)  # the batch processor exports every 5 s
                exported = spans_received(receiver_url) - counted
                spans[variant].append(exported / max(1, result.requests))
            progress(
                f"round {round_no} {variant:20} {result.requests_per_second:8.0f} req/s "
                f"p50 {result.p50_ms:6.2f} ms p99 {result.p99_ms:7.2f} ms "
                f"CPU {result.cpu_us_per_request(child.name):5.0f} us/req "
                f"load {result.load_before:.2f}"
            )
        after = machine_state()
        for variant, child in children.items():
            loaded_rss[variant] = child.rss_mib()
            scrapes[variant] = scrape(urls[variant])

    parts = span_parts()
    if args.json:
        path = write_results(
            "instrumentation_cost",
            {
                "args": vars(args),
                "before": before,
                "after": after,
                "series": series,
                "spans_per_request": spans,
                "idle_rss_mib": idle_rss,
                "loaded_rss_mib": loaded_rss,
                "scrape_ms_and_series": scrapes,
                "span_parts_cpu_us": parts,
            },
        )
        progress(f"wrote {path}")
    print(
        f"\n{args.connections} connections, {args.duration:g}s x {args.rounds} rounds, medians; "
        f"{before['uptime']}"
    )
    bare = series["bare"].median("requests_per_second")
    rows = []
    for variant, child in children.items():
        s = series[variant]
        rps = s.median("requests_per_second")
        rows.append(
            [
                variant,
                rps,
                f"{rps / bare:.2f}x",
                s.median("p50_ms"),
                s.median("p99_ms"),
                s.median_cpu_us(child.name),
                f"{statistics.median(spans[variant]):.2f}" if variant in TRACED else "-",
                idle_rss[variant],
                loaded_rss[variant],
                f"{scrapes[variant][0]:.2f}",
                scrapes[variant][1],
                s.failures,
            ]
        )
    print_table(
        [
            "variant",
            "req/s",
            "vs bare",
            "p50 ms",
            "p99 ms",
            "CPU us/req",
            "spans/req",
            "RSS idle MiB",
            "RSS after MiB",
            "scrape ms",
            "series",
            "errors",
        ],
        rows,
    )
    print(f"\nCPU per span, in one process ({machine_state()['uptime']})")
    print_table(["part", "CPU us/span"], [[k, v] for k, v in parts.items()])
    return 0


if __name__ == "__main__":
    main_guard(main)
