r"""What does shipping log records cost a request? The chassis with shipping off and on.

The app is the chassis (``Platform.create_app``: request context, RED metrics, one JSON
access-log line to stdout, problem+json) around one "hello" route, driven in this process
through its ASGI interface, so the CPU counted is the service's own: the request, the log
line, and with shipping on, the handler's queueing plus the background thread's batching,
encoding and sending (``time.process_time`` covers every thread of the process). Then,
in this process, the CPU per record of each part of shipping: the handler's ``emit``,
encoding batches as OTLP JSON, and posting them; the sum is what a shipped record costs.

Three variants, interleaved over several rounds (medians quoted):

- ``off``: no ``MERCATO_LOG_SHIPPING_URL``, stdout only (the default);
- ``log service up``: shipping to an OTLP/HTTP receiver in another process that reads each
  batch and answers 200 (standing in for the log service, whose own ingest CPU is not
  the shipping service's cost);
- ``log service down``: shipping to a port nobody listens on: every batch is refused and
  counted in ``mercato_log_records_dropped_total``.

Stdout goes to /dev/null so the terminal does not dominate. Run:

    .venv/bin/python bench/log_shipping_cost.py --requests 3000 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

RECEIVER = r"""
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass

ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Receiver).serve_forever()
"""


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def receiver() -> Iterator[str]:
    """An OTLP/HTTP logs receiver process; its URL."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-c", RECEIVER, str(port)])
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port)):
                break
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/v1/logs"
    finally:
        process.terminate()
        process.wait(5)


def app(shipping_url: str | None) -> Any:
    """The chassis "hello" app, shipping its records to ``shipping_url`` if given."""
    from fastapi import APIRouter

    from mercato.platform.app import Platform
    from mercato.services.gateway.settings import Settings

    router = APIRouter()

    @router.get("/hello")
    async def hello() -> dict[str, str]:
        return {"message": "hello"}

    return Platform(Settings(service="gateway", log_shipping_url=shipping_url)).create_app(
        routers=[router]
    )


async def cpu_per_request(shipping_url: str | None, requests: int) -> tuple[float, float]:
    """CPU microseconds per request, and records dropped per request."""
    import httpx

    served = app(shipping_url)
    platform = served.state.platform
    transport = httpx.ASGITransport(app=served)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        await platform.start()
        try:
            for _ in range(100):  # warm-up
                await client.get("/hello")
            began = time.process_time()
            for _ in range(requests):
                await client.get("/hello")
            # The shipper sends what is queued before it stops: that CPU is the requests'.
            await platform.stop()
            spent = time.process_time() - began
        finally:
            with contextlib.suppress(Exception):
                await platform.stop()
    exposition = platform.metrics.exposition()[0].decode()
    dropped = sum(
        float(line.rsplit(" ", 1)[1])
        for line in exposition.splitlines()
        if line.startswith("mercato_log_records_dropped_total{")
    )
    return spent / requests * 1e6, dropped / requests


def parts(count: int = 20_000) -> dict[str, float]:
    """CPU microseconds per record of each part of shipping, measured in this process."""
    import httpx

    from mercato.platform.logshipping import BATCH_SIZE, LogShipper, export_request

    shipper = LogShipper("gateway", "http://127.0.0.1:9/v1/logs", queue_size=count + 1)
    record = logging.LogRecord("mercato.access", logging.INFO, __file__, 1, "GET /hello", (), None)
    record.status, record.route, record.duration_ms = 200, "/hello", 0.4
    began = time.process_time()
    for _ in range(count):
        shipper.emit(record)
    emitted = time.process_time() - began
    entries = [shipper._queue.get_nowait() for _ in range(count)]
    resource = shipper._resource
    began = time.process_time()
    bodies = [
        export_request(resource, entries[i : i + BATCH_SIZE]) for i in range(0, count, BATCH_SIZE)
    ]
    encoded = time.process_time() - began
    with receiver() as url, httpx.Client() as client:
        began = time.process_time()
        for body in bodies:
            client.post(url, content=body, headers={"content-type": "application/json"})
        sent = time.process_time() - began
    return {
        "emit (entry + queue)": emitted / count * 1e6,
        "encode OTLP JSON": encoded / count * 1e6,
        "send (httpx, batches of 500)": sent / count * 1e6,
    }


def main() -> int:
    """Measures the variants and prints the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    from mercato.platform.logging import configure_logging

    configure_logging("gateway", "info")
    devnull = open(os.devnull, "w")  # noqa: SIM115 (for the whole run)
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(devnull)

    results: dict[str, list[float]] = {}
    drops: dict[str, list[float]] = {}
    with receiver() as up:
        variants = {"off": None, "log service up": up, "log service down": None}
        for _ in range(args.rounds):
            for name, url in variants.items():
                if name == "log service down":
                    url = f"http://127.0.0.1:{free_port()}/v1/logs"
                cpu, dropped = asyncio.run(cpu_per_request(url, args.requests))
                results.setdefault(name, []).append(cpu)
                drops.setdefault(name, []).append(dropped)
    base = statistics.median(results["off"])
    print(f"{'variant':<18} {'CPU µs/request':>15} {'vs off':>9} {'dropped/request':>16}")
    for name, values in results.items():
        median = statistics.median(values)
        print(
            f"{name:<18} {median:>15.0f} {median - base:>+9.0f} "
            f"{statistics.median(drops[name]):>16.2f}"
        )
    print()
    print(f"{'part of shipping':<30} {'CPU µs/record':>14}")
    for name, micros in parts().items():
        print(f"{name:<30} {micros:>14.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
