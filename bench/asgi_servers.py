"""uvicorn or granian? Three apps on each server, side by side, with their memory.

Apps: a raw ASGI "hello" (the servers' ceiling), FastAPI "hello", and the same route
wrapped in the chassis (``Platform(settings).create_app`` for the gateway: request
context, metrics, one JSON access-log line per request, body limit, problem+json).
Servers: uvicorn with uvloop and httptools (as src/mercato/platform/server.py runs it)
and granian (ASGI interface, one worker, uvloop). Every server runs at once; wrk loads
one at a time at 32 connections, interleaved, several rounds; the table quotes medians
and the resident memory of every server process after the load (granian's main
process plus its worker).

Run (wrk comes from Debian: apt-get update && apt-get install -y wrk; granian from the
bench extra: .venv/bin/pip install -e '.[bench]'):

    .venv/bin/python bench/asgi_servers.py --duration 10 --rounds 3 --connections 32 --json
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from _common import (
    BENCH_DIR,
    PYTHON,
    BenchError,
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

# app label -> (target in bench/_apps.py, is a factory, path to load)
APPS = {
    "raw ASGI": ("_apps:backend", False, "/"),
    "FastAPI": ("_apps:hello", False, "/"),
    "chassis": ("_apps:chassis_app", True, "/hello"),
}
SERVERS = ("uvicorn", "granian")


def granian_binary() -> str:
    """granian from this environment's bench extra."""
    candidate = Path(PYTHON).parent / "granian"
    found = str(candidate) if candidate.exists() else shutil.which("granian")
    if found is None:
        raise BenchError("granian is not installed: run .venv/bin/pip install -e '.[bench]'")
    return found


def granian_command(target: str, port: int, *, factory: bool) -> list[str]:
    """granian with one worker, uvloop and no access log."""
    command = [granian_binary(), "--interface", "asgi", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--workers", "1", "--loop", "uvloop", "--no-ws"]
    command += ["--log-level", "warning", "--no-access-log", "--working-dir", str(BENCH_DIR)]
    return [*command, *(["--factory"] if factory else []), target]


def main() -> int:
    """Runs the comparison and prints the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="runs of every variant")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections")
    parser.add_argument("--json", action="store_true", help="also write bench/results/*.json")
    args = parser.parse_args()
    require("wrk")
    granian_binary()

    variants = [f"{app} on {server}" for app in APPS for server in SERVERS]
    series = {variant: Series() for variant in variants}
    idle_rss: dict[str, float] = {}
    loaded_rss: dict[str, float] = {}
    with Processes() as processes:
        urls: dict[str, str] = {}
        children: dict[str, Child] = {}
        for app, (target, factory, path) in APPS.items():
            for server in SERVERS:
                variant, port = f"{app} on {server}", free_port()
                command = (
                    uvicorn_command(target, port, factory=factory)
                    if server == "uvicorn"
                    else granian_command(target, port, factory=factory)
                )
                children[variant] = processes.start(variant.replace(" ", "-"), command)
                urls[variant] = f"http://127.0.0.1:{port}{path}"
        for variant, child in children.items():
            wait_http(urls[variant], child)
            idle_rss[variant] = child.rss_mib()

        before = machine_state()
        for variant in variants:  # warm-up
            run_wrk(urls[variant], connections=args.connections, duration=2)
        for round_no, variant in interleaved(variants, args.rounds):
            result = run_wrk(
                urls[variant],
                connections=args.connections,
                duration=args.duration,
                watch=[children[variant]],
            )
            series[variant].runs.append(result)
            progress(
                f"round {round_no} {variant:20} {result.requests_per_second:8.0f} req/s "
                f"p50 {result.p50_ms:6.2f} ms p99 {result.p99_ms:7.2f} ms "
                f"CPU {result.cpu_us_per_request(children[variant].name):5.0f} us/req "
                f"load {result.load_before:.2f}"
            )
        after = machine_state()
        for variant, child in children.items():
            loaded_rss[variant] = child.rss_mib()

    if args.json:
        path = write_results(
            "asgi_servers",
            {
                "args": vars(args),
                "before": before,
                "after": after,
                "series": series,
                "idle_rss_mib": idle_rss,
                "loaded_rss_mib": loaded_rss,
            },
        )
        progress(f"wrote {path}")
    print(
        f"\n{args.connections} connections, {args.duration:g}s x {args.rounds} rounds, medians; "
        f"{before['uptime']}"
    )
    rows = []
    for app in APPS:
        uvicorn_rps = series[f"{app} on uvicorn"].median("requests_per_second")
        for server in SERVERS:
            variant = f"{app} on {server}"
            s = series[variant]
            rps = s.median("requests_per_second")
            rows.append(
                [
                    app,
                    server,
                    rps,
                    s.median("p99_ms"),
                    f"{rps / uvicorn_rps:.2f}x",
                    s.median_cpu_us(variant.replace(" ", "-")),
                    idle_rss[variant],
                    loaded_rss[variant],
                    s.failures,
                ]
            )
    print_table(
        [
            "app",
            "server",
            "req/s",
            "p99 ms",
            "vs uvicorn",
            "CPU us/req",
            "RSS idle MiB",
            "RSS after MiB",
            "errors",
        ],
        rows,
    )
    return 0


if __name__ == "__main__":
    main_guard(main)
