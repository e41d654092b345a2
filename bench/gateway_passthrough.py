r"""What does the gateway cost? One auth route called directly, through the gateway, through nginx.

The backend is a real Mercato route that needs no token and touches no database:
auth's ``GET /api/v1/auth/jwks.json`` (the key set is held in memory). auth and the
gateway run as real processes (``python -m mercato.platform.server``) on PostgreSQL and
NATS started by the runner's launchers; the gateway's rate limit is off (one load
generator is one client). nginx is a plain reverse proxy in front of auth. The three
paths are loaded with wrk at several concurrencies, interleaved, several rounds; the
table quotes medians.

Run (wrk and nginx come from Debian: apt-get update && apt-get install -y wrk nginx-light):

    .venv/bin/python bench/gateway_passthrough.py --duration 10 --rounds 3 \
        --concurrency 1,8,32 --json
"""

from __future__ import annotations

import argparse

from _common import (
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
    start_nginx,
    wait_http,
    write_results,
)
from _platform import start_platform

ROUTE = "/api/v1/auth/jwks.json"
PATHS = ("direct", "gateway", "nginx")


def main() -> int:
    """Runs the comparison and prints the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="runs of every variant")
    parser.add_argument(
        "--concurrency", default="1,8,32", help="comma-separated wrk connection counts"
    )
    parser.add_argument("--json", action="store_true", help="also write bench/results/*.json")
    args = parser.parse_args()
    concurrencies = [int(c) for c in args.concurrency.split(",")]
    require("wrk")
    require("nginx")

    variants = [f"{path}@{c}" for c in concurrencies for path in PATHS]
    series = {variant: Series() for variant in variants}
    with Processes() as processes:
        platform = start_platform(processes, ("auth", "gateway"))
        auth, gateway = platform.children["auth"], platform.children["gateway"]
        auth_port = int(platform.urls["auth"].rsplit(":", 1)[1])
        nginx_port = free_port()
        nginx = start_nginx(processes, upstream_port=auth_port, port=nginx_port)
        urls = {
            "direct": platform.urls["auth"] + ROUTE,
            "gateway": platform.urls["gateway"] + ROUTE,
            "nginx": f"http://127.0.0.1:{nginx_port}{ROUTE}",
        }
        wait_http(urls["nginx"], nginx)
        wait_http(urls["gateway"], gateway)

        before = machine_state()
        for path in PATHS:  # warm-up: pools, JIT-less caches, lazy imports
            run_wrk(urls[path], connections=max(concurrencies), duration=2)
        for round_no, variant in interleaved(variants, args.rounds):
            path, connections = variant.split("@")
            hops = {"gateway": [gateway], "nginx": [nginx]}.get(path, [])
            result = run_wrk(
                urls[path],
                connections=int(connections),
                duration=args.duration,
                watch=[auth, *hops],
            )
            series[variant].runs.append(result)
            hop_us = result.cpu_us_per_request(path) if hops else 0.0
            progress(
                f"round {round_no} {variant:11} {result.requests_per_second:8.0f} req/s "
                f"p50 {result.p50_ms:6.2f} ms p99 {result.p99_ms:7.2f} ms "
                f"auth CPU {result.cpu_us_per_request('auth'):4.0f} us/req "
                f"proxy CPU {hop_us:4.0f} us/req load {result.load_before:.2f}"
            )
        after = machine_state()
        rss = {child.name: child.rss_mib() for child in processes.children}
        for child in (auth, gateway):
            answers = dict(sorted(child.answers().items()))
            progress(f"{child.name} answered (status: count) {answers}")

    if args.json:
        path = write_results(
            "gateway_passthrough",
            {"args": vars(args), "before": before, "after": after, "series": series, "rss": rss},
        )
        progress(f"wrote {path}")
    print(f"\nGET {ROUTE}, {args.duration:g}s x {args.rounds} rounds, medians; {before['uptime']}")
    rows = []
    for c in concurrencies:
        direct = series[f"direct@{c}"].median("requests_per_second")
        for path in PATHS:
            s = series[f"{path}@{c}"]
            rps = s.median("requests_per_second")
            rows.append(
                [
                    c,
                    path,
                    rps,
                    s.median("p50_ms"),
                    s.median("p99_ms"),
                    f"{direct / rps:.2f}x",
                    s.median_cpu_us("auth"),
                    s.median_cpu_us(path) if path != "direct" else "-",
                    s.failures,
                ]
            )
    print_table(
        [
            "connections",
            "path",
            "req/s",
            "p50 ms",
            "p99 ms",
            "direct / path",
            "auth CPU us/req",
            "proxy CPU us/req",
            "errors",
        ],
        rows,
    )
    print("\nRSS after the load (MiB): " + ", ".join(f"{k} {v:.0f}" for k, v in rss.items()))
    return 0


if __name__ == "__main__":
    main_guard(main)
