"""Which HTTP client should a service proxy through? httpx vs aiohttp vs nginx vs direct.

One backend (a raw ASGI app on uvicorn with uvloop and httptools) is loaded with wrk:
directly, through nginx as a plain reverse proxy, and through the same minimal Starlette
proxy (on uvicorn) forwarding with one pooled httpx.AsyncClient or with one pooled
aiohttp.ClientSession (as mercato.platform.http does). The variants run interleaved,
several rounds; the table quotes medians.

Run (wrk and nginx come from Debian: apt-get update && apt-get install -y wrk nginx-light):

    .venv/bin/python bench/http_clients.py --duration 10 --rounds 3 --connections 32 --json
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
    uvicorn_command,
    wait_http,
    write_results,
)

VARIANTS = ("direct", "nginx", "aiohttp", "httpx")


def main() -> int:
    """Runs the comparison and prints the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="runs of every variant")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections")
    parser.add_argument("--json", action="store_true", help="also write bench/results/*.json")
    args = parser.parse_args()
    require("wrk")
    require("nginx")

    before = machine_state()
    series = {variant: Series() for variant in VARIANTS}
    with Processes() as processes:
        backend_port = free_port()
        backend = processes.start("backend", uvicorn_command("_apps:backend", backend_port))
        wait_http(f"http://127.0.0.1:{backend_port}/", backend)
        upstream = {"BENCH_UPSTREAM": f"http://127.0.0.1:{backend_port}"}
        urls = {"direct": f"http://127.0.0.1:{backend_port}/"}
        proxies = {}
        for name in ("aiohttp", "httpx"):
            port = free_port()
            proxy = proxies[name] = processes.start(
                name,
                uvicorn_command(f"_apps:{name}_proxy", port, factory=True),
                env=upstream,
            )
            urls[name] = f"http://127.0.0.1:{port}/"
            wait_http(urls[name], proxy)
        nginx_port = free_port()
        nginx = proxies["nginx"] = start_nginx(
            processes, upstream_port=backend_port, port=nginx_port
        )
        urls["nginx"] = f"http://127.0.0.1:{nginx_port}/"
        wait_http(urls["nginx"], nginx)

        for variant in VARIANTS:  # warm-up: connection pools, caches, lazy imports
            run_wrk(urls[variant], connections=args.connections, duration=2)
        for round_no, variant in interleaved(VARIANTS, args.rounds):
            watch = [backend, *([proxies[variant]] if variant in proxies else [])]
            result = run_wrk(
                urls[variant], connections=args.connections, duration=args.duration, watch=watch
            )
            series[variant].runs.append(result)
            proxy_us = result.cpu_us_per_request(variant) if variant in proxies else 0.0
            progress(
                f"round {round_no} {variant:8} {result.requests_per_second:8.0f} req/s "
                f"p50 {result.p50_ms:6.2f} ms p99 {result.p99_ms:7.2f} ms "
                f"proxy CPU {proxy_us:4.0f} us/req load {result.load_before:.2f}"
            )
    after = machine_state()

    if args.json:
        path = write_results(
            "http_clients",
            {"args": vars(args), "before": before, "after": after, "series": series},
        )
        progress(f"wrote {path}")
    direct = series["direct"].median("requests_per_second")
    print(
        f"\n{args.connections} connections, {args.duration:g}s x {args.rounds} rounds, medians; "
        f"{before['uptime']}"
    )
    print_table(
        [
            "variant",
            "req/s",
            "p50 ms",
            "p99 ms",
            "of direct",
            "proxy CPU us/req",
            "backend CPU us/req",
            "errors",
        ],
        [
            [
                variant,
                s.median("requests_per_second"),
                s.median("p50_ms"),
                s.median("p99_ms"),
                f"{s.median('requests_per_second') / direct:.0%}",
                s.median_cpu_us(variant) if variant != "direct" else "-",
                s.median_cpu_us("backend"),
                s.failures,
            ]
            for variant, s in series.items()
        ],
    )
    aiohttp_rps = series["aiohttp"].median("requests_per_second")
    httpx_rps = series["httpx"].median("requests_per_second")
    print(f"\naiohttp / httpx: {aiohttp_rps / httpx_rps:.1f}x")
    return 0


if __name__ == "__main__":
    main_guard(main)
