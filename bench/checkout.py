r"""Checkout end to end through the gateway: checkouts/s, p50/p99, CPU split, where the time goes.

The commerce services (auth, product, inventory, payment, order) and the gateway run as
real processes (``python -m mercato.platform.server``) on PostgreSQL, NATS and S3 started
by the runner's launchers, their databases migrated as the runner does it, with their
default settings (the gateway's rate limit off: one load generator is many shoppers on
one address). Shoppers are registered customers with a sandbox card that succeeds; each
loops "put a product in the cart, check out with a fresh Idempotency-Key" against
20 products with unlimited stock, so every checkout runs the whole saga: product
snapshot, reservation, charge, commit. This script is the load generator (aiohttp).

Per concurrency level (shoppers at once), interleaved over several rounds, medians:
checkouts per second, p50/p99 of ``POST /orders``, and each process's CPU time per
checkout (psutil, before and after every run; PostgreSQL counts its backends, which the
pools keep alive). Then where the time goes:

- spans: checkouts one at a time, each with its own X-Request-ID, read back from every
  service's access log (the request id travels with every call), as a waterfall;
- with ``--profile-seconds``, py-spy samples every service process during a run at the
  highest concurrency and the samples are grouped by the library the CPU was in.

Run (py-spy comes with the bench extra):

    .venv/bin/python bench/checkout.py --duration 15 --rounds 3 --concurrency 1,4,16 \
        --profile-seconds 15 --json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import statistics
import subprocess
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import psutil
from sqlalchemy.engine import make_url

from _common import (
    PYTHON,
    BenchError,
    Child,
    Processes,
    interleaved,
    machine_state,
    main_guard,
    print_table,
    progress,
    require,
    write_results,
)
from _platform import Platform, start_platform

API = "/api/v1"
SERVICES = ("auth", "product", "inventory", "payment", "order", "gateway")
PRODUCTS = 20
PASSWORD = "bench-shopper-password"  # noqa: S105 (throw-away accounts)
CARD = "4242424242424242"
ADDRESS = {
    "name": "Bench",
    "line1": "1 Load St",
    "city": "Lyon",
    "postal_code": "69001",
    "country": "FR",
}
TRACED_CHECKOUTS = 20


@dataclass
class Shopper:
    """A customer with a card."""

    email: str
    card: str = ""
    token: str = ""


@dataclass
class Run:
    """One load run at one concurrency."""

    concurrency: int
    seconds: float
    checkouts: list[float] = field(default_factory=list)  # latencies of confirmed ones, s
    carts: list[float] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds per process

    @property
    def per_second(self) -> float:
        """Confirmed checkouts per second."""
        return len(self.checkouts) / self.seconds

    def percentile(self, q: float) -> float:
        """A latency percentile of the confirmed checkouts, in ms."""
        if len(self.checkouts) < 2:
            return float("nan")
        return statistics.quantiles(self.checkouts, n=100, method="inclusive")[int(q) - 1] * 1000

    def cpu_ms_per_checkout(self, name: str) -> float:
        """CPU milliseconds process ``name`` spent per confirmed checkout."""
        return self.cpu.get(name, float("nan")) * 1000 / max(1, len(self.checkouts))

    def summary(self) -> dict[str, Any]:
        """The run as JSON."""
        return {
            "concurrency": self.concurrency,
            "seconds": self.seconds,
            "checkouts": len(self.checkouts),
            "per_second": self.per_second,
            "p50_ms": self.percentile(50),
            "p99_ms": self.percentile(99),
            "cart_p50_ms": statistics.median(self.carts) * 1000 if self.carts else None,
            "failures": dict(self.failures),
            "cpu_seconds": self.cpu,
        }


def main() -> int:
    """Starts the platform, prepares shoppers, runs the levels, traces and profiles."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=15.0, help="seconds per run")
    parser.add_argument("--rounds", type=int, default=3, help="runs of every level")
    parser.add_argument("--concurrency", default="1,4,16", help="comma-separated shopper counts")
    parser.add_argument(
        "--profile-seconds", type=float, default=0.0, help="py-spy every service (0: off)"
    )
    parser.add_argument("--json", action="store_true", help="also write bench/results/*.json")
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]
    if args.profile_seconds:
        _py_spy()

    runs: dict[int, list[Run]] = defaultdict(list)
    with Processes() as processes:
        platform = start_platform(processes, SERVICES)
        shoppers, product_ids = asyncio.run(prepare(platform, max(levels)))
        watch = {name: platform.children[name] for name in (*SERVICES, "postgres", "nats")}

        before = machine_state()
        progress("warm-up")
        asyncio.run(load(platform, shoppers, product_ids, max(levels), 3.0, watch))
        for round_no, level in interleaved([str(c) for c in levels], args.rounds):
            run = asyncio.run(
                load(platform, shoppers, product_ids, int(level), args.duration, watch)
            )
            runs[int(level)].append(run)
            progress(
                f"round {round_no} c={level:>3} {run.per_second:6.1f} checkouts/s "
                f"p50 {run.percentile(50):7.1f} ms p99 {run.percentile(99):7.1f} ms "
                f"failures {dict(run.failures)} load {os.getloadavg()[0]:.2f}"
            )
        spans = asyncio.run(trace_checkouts(platform, shoppers[0], product_ids))
        profile: dict[str, Counter[str]] = {}
        if args.profile_seconds:
            profile = profile_services(
                processes.workdir, platform, shoppers, product_ids, max(levels), args
            )
        after = machine_state()
        for name in SERVICES:
            errors = platform.children[name].errors_logged()
            if errors:
                progress(f"{name} logged errors, e.g. {errors}")

    if args.json:
        path = write_results(
            "checkout",
            {
                "args": vars(args),
                "before": before,
                "after": after,
                "runs": {c: [r.summary() for r in rs] for c, rs in runs.items()},
                "spans": spans,
                "profile": {k: dict(v) for k, v in profile.items()},
            },
        )
        progress(f"wrote {path}")
    report(levels, runs, spans, profile, args, before)
    return 0


# -- the platform --------------------------------------------------------------------------


async def _sql(database_url: str, statement: str, *params: Any) -> None:
    url = make_url(database_url)
    connection = await asyncpg.connect(
        host=url.host,
        port=url.port,
        user=url.username,
        password=url.password,
        database=url.database,
    )
    try:
        await connection.execute(statement, *params)
    finally:
        await connection.close()


# -- shoppers and products -----------------------------------------------------------------


async def _expect(
    session: aiohttp.ClientSession, method: str, url: str, status: int, **kwargs: Any
) -> Any:
    async with session.request(method, url, **kwargs) as response:
        body = await response.read()
        if response.status != status:
            raise BenchError(f"{method} {url} answered {response.status}: {body[:300]!r}")
        return json.loads(body) if body else None


async def _login(session: aiohttp.ClientSession, gateway: str, email: str) -> str:
    tokens = await _expect(
        session,
        "POST",
        f"{gateway}{API}/auth/login",
        200,
        json={"email": email, "password": PASSWORD},
    )
    return str(tokens["access_token"])


async def prepare(platform: Platform, count: int) -> tuple[list[Shopper], list[str]]:
    """An administrator, the products with unlimited stock, ``count`` shoppers with cards."""
    gateway = platform.urls["gateway"]
    async with aiohttp.ClientSession() as session:
        root = "bench-admin@example.com"
        await _expect(
            session,
            "POST",
            f"{gateway}{API}/auth/register",
            201,
            json={"email": root, "password": PASSWORD, "name": "Bench admin"},
        )
        await _sql(
            platform.databases["auth"],
            "UPDATE users SET roles = ARRAY['admin', 'customer'] WHERE email = $1",
            root,
        )
        admin = {"Authorization": f"Bearer {await _login(session, gateway, root)}"}
        product_ids = []
        for i in range(PRODUCTS):
            sku = f"BENCH-{i:03d}"
            created = await _expect(
                session,
                "POST",
                f"{gateway}{API}/products",
                201,
                json={
                    "sku": sku,
                    "name": f"Bench product {i}",
                    "price": {"amount": 1000 + i, "currency": "EUR"},
                },
                headers=admin,
            )
            product_ids.append(str(created["id"]))
            await _expect(
                session,
                "PUT",
                f"{gateway}{API}/inventory/{sku}",
                200,
                json={"on_hand": 1_000_000},
                headers=admin,
            )
        progress(f"registering {count} shoppers")
        shoppers = [Shopper(f"shopper{i}-{uuid.uuid4().hex[:6]}@example.com") for i in range(count)]
        for shopper in shoppers:
            await _expect(
                session,
                "POST",
                f"{gateway}{API}/auth/register",
                201,
                json={"email": shopper.email, "password": PASSWORD, "name": "Shopper"},
            )
            shopper.token = await _login(session, gateway, shopper.email)
            method = await _expect(
                session,
                "POST",
                f"{gateway}{API}/payments/methods",
                201,
                json={"card_number": CARD, "exp_month": 12, "exp_year": 2035, "cvc": "123"},
                headers={"Authorization": f"Bearer {shopper.token}"},
            )
            shopper.card = str(method["id"])
    return shoppers, product_ids


# -- load ----------------------------------------------------------------------------------


async def load(
    platform: Platform,
    shoppers: list[Shopper],
    product_ids: list[str],
    concurrency: int,
    seconds: float,
    watch: dict[str, Child],
    *,
    fresh_tokens: bool = True,
) -> Run:
    """``concurrency`` shoppers buying for ``seconds``; latencies and CPU per process."""
    gateway = platform.urls["gateway"]
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        active = shoppers[:concurrency]
        if fresh_tokens:  # outside the measured window
            await log_in(platform, active)
        run = Run(concurrency, seconds)
        myself = psutil.Process()
        cpu_before = {name: child.cpu_seconds() for name, child in watch.items()}
        own_before = sum(myself.cpu_times()[:2])
        began = time.perf_counter()
        stop_at = began + seconds
        await asyncio.gather(
            *(_shop(session, gateway, s, product_ids, stop_at, run) for s in active)
        )
        run.seconds = time.perf_counter() - began
        run.cpu = {name: child.cpu_seconds() - cpu_before[name] for name, child in watch.items()}
        run.cpu["load generator"] = sum(myself.cpu_times()[:2]) - own_before
    return run


async def log_in(platform: Platform, shoppers: list[Shopper]) -> None:
    """Fresh access tokens for ``shoppers`` (they last 15 minutes)."""
    async with aiohttp.ClientSession() as session:
        for shopper in shoppers:
            shopper.token = await _login(session, platform.urls["gateway"], shopper.email)


async def _shop(
    session: aiohttp.ClientSession,
    gateway: str,
    shopper: Shopper,
    product_ids: list[str],
    stop_at: float,
    run: Run,
) -> None:
    headers = {"Authorization": f"Bearer {shopper.token}"}
    while time.perf_counter() < stop_at:
        product = random.choice(product_ids)
        began = time.perf_counter()
        async with session.put(
            f"{gateway}{API}/cart/items/{product}", json={"quantity": 1}, headers=headers
        ) as response:
            await response.read()
            if response.status != 200:
                run.failures[f"cart {response.status}"] += 1
                continue
        run.carts.append(time.perf_counter() - began)
        began = time.perf_counter()
        async with session.post(
            f"{gateway}{API}/orders",
            json={"shipping_address": ADDRESS, "payment_method_id": shopper.card},
            headers={**headers, "Idempotency-Key": uuid.uuid4().hex},
        ) as response:
            body = await response.read()
        elapsed = time.perf_counter() - began
        status = json.loads(body).get("status") if response.status in (201, 202) else None
        if response.status == 201 and status == "confirmed":
            run.checkouts.append(elapsed)
        else:
            run.failures[f"checkout {response.status} {status or ''}".strip()] += 1


# -- where the time goes -------------------------------------------------------------------


async def trace_checkouts(
    platform: Platform, shopper: Shopper, product_ids: list[str]
) -> list[dict[str, Any]]:
    """Checkouts one at a time with known request ids; their spans from every access log."""
    gateway = platform.urls["gateway"]
    traced = []
    async with aiohttp.ClientSession() as session:
        shopper.token = await _login(session, gateway, shopper.email)
        headers = {"Authorization": f"Bearer {shopper.token}"}
        for _ in range(TRACED_CHECKOUTS):
            await _expect(
                session,
                "PUT",
                f"{gateway}{API}/cart/items/{product_ids[0]}",
                200,
                json={"quantity": 1},
                headers=headers,
            )
            request_id = f"bench-trace-{uuid.uuid4().hex[:12]}"
            await _expect(
                session,
                "POST",
                f"{gateway}{API}/orders",
                201,
                json={"shipping_address": ADDRESS, "payment_method_id": shopper.card},
                headers={**headers, "Idempotency-Key": request_id, "X-Request-ID": request_id},
            )
            traced.append(request_id)
    await asyncio.sleep(1.0)  # let every process flush its log
    spans: dict[tuple[str, str], list[list[float]]] = defaultdict(list)
    for name in SERVICES:
        per_request: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
        with platform.children[name].log_path.open(errors="replace") as log:
            for line in log:
                if "bench-trace-" not in line or '"mercato.access"' not in line:
                    continue
                with contextlib.suppress(ValueError, KeyError):
                    entry = json.loads(line)
                    key = f"{entry['method']} {entry['route']}"
                    per_request[entry["request_id"]][key].append(float(entry["duration_ms"]))
        for request_id in traced:
            for key, durations in per_request.get(request_id, {}).items():
                spans[(name, key)].append(durations)
    rows = []
    for (name, key), samples in spans.items():
        rows.append(
            {
                "service": name,
                "request": key,
                "calls_per_checkout": statistics.median(len(s) for s in samples),
                "median_ms_each": statistics.median(d for s in samples for d in s),
                "median_ms_total": statistics.median(sum(s) for s in samples),
            }
        )
    order = {
        name: i
        for i, name in enumerate(("gateway", "order", "product", "inventory", "payment", "auth"))
    }
    return sorted(rows, key=lambda r: (order.get(r["service"], 9), -r["median_ms_total"]))


LIBRARIES = (
    ("sqlalchemy", "SQLAlchemy"),
    ("asyncpg", "asyncpg"),
    ("pydantic", "pydantic"),
    ("fastapi", "FastAPI/Starlette"),
    ("starlette", "FastAPI/Starlette"),
    ("uvicorn", "uvicorn/uvloop"),
    ("uvloop", "uvicorn/uvloop"),
    ("httptools", "uvicorn/uvloop"),
    ("aiohttp", "aiohttp (calls out)"),
    ("yarl", "aiohttp (calls out)"),
    ("multidict", "aiohttp (calls out)"),
    ("jwt", "JWT/crypto"),
    ("cryptography", "JWT/crypto"),
    ("prometheus_client", "metrics"),
    ("mercato/platform/metrics", "metrics"),
    ("logging", "logging"),
    ("mercato/platform/logging", "logging"),
    ("nats", "NATS"),
    ("orjson", "JSON"),
    ("json/", "JSON"),
    ("asyncio", "asyncio"),
    ("mercato/", "mercato code"),
)


def _py_spy() -> str:
    """py-spy from the venv the benchmark runs in, or from PATH."""
    beside = Path(PYTHON).parent / "py-spy"
    if beside.exists():
        return str(beside)
    return require("py-spy", "pip install -e '.[bench]'")


def _library(frame: str) -> str:
    for marker, library in LIBRARIES:
        if marker in frame:
            return library
    return "other"


def profile_services(
    workdir: Path,
    platform: Platform,
    shoppers: list[Shopper],
    product_ids: list[str],
    concurrency: int,
    args: argparse.Namespace,
) -> dict[str, Counter[str]]:
    """py-spy on every service during a run: samples by the library of the innermost frame."""
    seconds = args.profile_seconds
    # Log in first: argon2 at login would otherwise fill auth's profile.
    asyncio.run(log_in(platform, shoppers[:concurrency]))
    samplers = {}
    for name in SERVICES:
        output = workdir / f"py-spy-{name}.txt"
        samplers[name] = (
            subprocess.Popen(
                [
                    _py_spy(),
                    "record",
                    "--pid",
                    str(platform.children[name].pid),
                    "--duration",
                    f"{seconds:g}",
                    "--rate",
                    "50",
                    "--format",
                    "raw",
                    "--nonblocking",
                    "-o",
                    str(output),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            ),
            output,
        )
    progress(f"profiling every service for {seconds:g}s at c={concurrency}")
    watch = {name: platform.children[name] for name in SERVICES}
    run = asyncio.run(
        load(platform, shoppers, product_ids, concurrency, seconds, watch, fresh_tokens=False)
    )
    progress(f"profiled run: {run.per_second:.1f} checkouts/s (py-spy running)")
    profile: dict[str, Counter[str]] = {}
    for name, (sampler, output) in samplers.items():
        sampler.wait(seconds + 60)
        counts: Counter[str] = Counter()
        ours: Counter[str] = Counter()
        with contextlib.suppress(OSError), output.open() as raw:
            for line in raw:
                stack, _, count = line.rstrip().rpartition(" ")
                if not (stack and count.isdigit()):
                    continue
                frames = stack.split(";")
                counts[_library(frames[-1])] += int(count)
                # Inclusive time of the service's own functions (use cases, repository).
                for function in {f.split(" (")[0] for f in frames if f"services/{name}/" in f}:
                    ours[function] += int(count)
        profile[name] = counts
        profile[f"{name} (own functions, inclusive)"] = ours
    return profile


# -- the report ----------------------------------------------------------------------------


def report(
    levels: list[int],
    runs: dict[int, list[Run]],
    spans: list[dict[str, Any]],
    profile: dict[str, Counter[str]],
    args: argparse.Namespace,
    before: dict[str, Any],
) -> None:
    """Prints the tables (Markdown, for docs/BENCHMARKS.md)."""
    print(
        f"\ncheckouts through the gateway, {args.duration:g}s x {args.rounds} rounds, medians; "
        f"{before['cpus']} CPUs; {before['uptime']}"
    )
    rows = []
    for level in levels:
        rs = runs[level]
        rows.append(
            [
                level,
                statistics.median(r.per_second for r in rs),
                statistics.median(r.percentile(50) for r in rs),
                statistics.median(r.percentile(99) for r in rs),
                statistics.median(statistics.median(r.carts) * 1000 for r in rs if r.carts),
                sum(sum(r.failures.values()) for r in rs),
            ]
        )
    print_table(
        ["shoppers", "checkouts/s", "p50 ms", "p99 ms", "cart PUT p50 ms", "failures"], rows
    )

    names = [*SERVICES, "postgres", "nats", "load generator"]
    print("\nCPU ms per checkout by process (median), and share of the machine at that level")
    rows = []
    for level in levels:
        rs = runs[level]
        machine = os.cpu_count() or 1
        row: list[Any] = [level]
        for name in names:
            ms = statistics.median(r.cpu_ms_per_checkout(name) for r in rs)
            share = statistics.median(r.cpu.get(name, 0.0) / r.seconds / machine for r in rs)
            row.append(f"{ms:.1f} ({share:.0%})")
        total = statistics.median(sum(r.cpu.values()) / r.seconds / machine for r in rs)
        row.append(f"{total:.0%}")
        rows.append(row)
    print_table(["shoppers", *names, "all"], rows)

    print(f"\nspans of one checkout ({TRACED_CHECKOUTS} sequential checkouts, medians)")
    print_table(
        ["service", "request", "calls", "ms each", "ms total"],
        [
            [
                s["service"],
                s["request"],
                s["calls_per_checkout"],
                s["median_ms_each"],
                s["median_ms_total"],
            ]
            for s in spans
        ],
    )
    if profile:
        print("\nwhere each service's CPU goes (py-spy, share of its samples)")
        rows = []
        for name, counts in profile.items():
            if "(own functions" in name:
                continue
            total = sum(counts.values()) or 1
            top = counts.most_common(6)
            rows.append([name, total, ", ".join(f"{lib} {n / total:.0%}" for lib, n in top)])
        print_table(["service", "samples", "top libraries"], rows)
        print("\nthe services' own functions, inclusive share of their process's samples")
        rows = []
        for name in SERVICES:
            total = sum(profile.get(name, Counter()).values()) or 1
            own = profile.get(f"{name} (own functions, inclusive)", Counter())
            rows.append([name, ", ".join(f"{f} {n / total:.0%}" for f, n in own.most_common(6))])
        print_table(["service", "functions"], rows)


if __name__ == "__main__":
    main_guard(main)
