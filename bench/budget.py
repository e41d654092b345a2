r"""The seed's budget: what one replica capped at 250m CPU / 256 MiB sustains per route family.

Issue 11. Every service runs as a real process (``python -m mercato.platform.server``) on
PostgreSQL, NATS and S3 started by the runner's launchers (bench/_platform.py). For each
service under test, its process is replaced by one started inside a cgroup v1 pair
(``/sys/fs/cgroup/cpu/<name>`` with ``cpu.cfs_quota_us=25000`` per
``cpu.cfs_period_us=100000``, ``memory/<name>`` with ``memory.limit_in_bytes=256M``) on the
same port and environment, so its whole life, imports included, is charged to the cgroup
the way a pod's is; the services it calls stay uncapped. When its families are done it is
moved back out (uncapped) and the cgroups are removed.

The load generator (this script, aiohttp) is an open model: requests are sent at a
constant arrival rate, whether or not earlier ones came back, and latency is counted from
the moment a request was due (no coordinated omission). A short closed-loop probe gives a
first estimate of the capacity; then the rate steps up through fractions of it until p99
exceeds 250 ms, a request fails, or fewer than 95 % of the due requests complete. The
highest clean step is what the replica sustains. Per family: that rate, p50/p99 there,
the capped service's CPU ms per request (psutil, before and after every step, median of
the clean steps) and its peak memory (the cgroup's ``memory.max_usage_in_bytes``, page
cache included, and the peak RSS sampled by psutil).

Families hit the service directly (the gateway is not in the path) except "gateway", which
caps the gateway and sends ``GET /products/{id}`` through it. "checkout" caps order and
sends the storefront's pair (``PUT /cart/items``, ``POST /orders``) per arrival, each
from a shopper not already busy.

Run as root (cgroups):

    .venv/bin/python bench/budget.py --quick            # every family, <= 5 minutes
    .venv/bin/python bench/budget.py --step-seconds 5 --json
    .venv/bin/python bench/budget.py --quick --families auth-login,checkout
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import random
import statistics
import threading
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import psutil

from _common import (
    PYTHON,
    BenchError,
    Child,
    Processes,
    machine_state,
    main_guard,
    print_table,
    progress,
    wait_http,
    write_results,
)
from _platform import Platform, start_platform
from checkout import ADDRESS, PASSWORD, Shopper, _expect, _login, prepare
from mercato import catalog

API = "/api/v1"
CPU_ROOT = Path("/sys/fs/cgroup/cpu")
MEMORY_ROOT = Path("/sys/fs/cgroup/memory")
QUOTA_US = 25_000  # 250m of a 100 ms period: the seed's limit
PERIOD_US = 100_000
MEMORY_LIMIT = 256 * 2**20
P99_BUDGET_MS = 250.0
COMPLETION_FLOOR = 0.95
MAX_IN_FLIGHT = 512
REQUEST_TIMEOUT = 5.0
SHOPPERS = 32
DOWNWARD = (0.6, 0.35, 0.2)  # fractions of the first step tried when even it is over
TOKEN_LIFETIME = timedelta(minutes=10)  # access tokens last 15; renew before

# -- cgroups --------------------------------------------------------------------------


def _own_cgroup(controller: str) -> str:
    """Where this process sits in a v1 hierarchy (the capped group nests under it)."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(","):
            return path
    raise BenchError(f"no cgroup v1 {controller} controller in /proc/self/cgroup")


@dataclass
class Cgroup:
    """A cpu and a memory cgroup v1 pair holding one capped service."""

    name: str
    cpu: Path = field(init=False)
    memory: Path = field(init=False)
    cpu_parent: Path = field(init=False)
    memory_parent: Path = field(init=False)

    def __post_init__(self) -> None:
        self.cpu_parent = CPU_ROOT / _own_cgroup("cpu").lstrip("/")
        self.memory_parent = MEMORY_ROOT / _own_cgroup("memory").lstrip("/")
        self.cpu = self.cpu_parent / self.name
        self.memory = self.memory_parent / self.name

    def create(self) -> None:
        """Makes both groups with the seed's limits."""
        for path in (self.cpu, self.memory):
            try:
                path.mkdir(exist_ok=True)
            except OSError as exc:
                raise BenchError(f"cannot create {path} (run as root): {exc}") from None
        (self.cpu / "cpu.cfs_period_us").write_text(str(PERIOD_US))
        (self.cpu / "cpu.cfs_quota_us").write_text(str(QUOTA_US))
        (self.memory / "memory.limit_in_bytes").write_text(str(MEMORY_LIMIT))

    def wrap(self, command: Sequence[str]) -> list[str]:
        """``command`` run by a shell that first puts itself in both groups, then execs."""
        enter = f"echo $$ > {self.cpu}/cgroup.procs && echo $$ > {self.memory}/cgroup.procs"
        return ["/bin/sh", "-c", f'{enter} && exec "$@"', "capped", *command]

    def peak_memory_mib(self) -> float:
        """``memory.max_usage_in_bytes`` (RSS plus page cache charged to the group)."""
        return int((self.memory / "memory.max_usage_in_bytes").read_text()) / 2**20

    def throttled(self) -> dict[str, int]:
        """``cpu.stat``: periods, throttled periods, throttled time."""
        stat = {}
        for line in (self.cpu / "cpu.stat").read_text().splitlines():
            key, _, value = line.partition(" ")
            with contextlib.suppress(ValueError):
                stat[key] = int(value)
        return stat

    def release(self) -> None:
        """Moves every process left in the groups back to the parents (uncapped), removes them."""
        for group, parent in ((self.cpu, self.cpu_parent), (self.memory, self.memory_parent)):
            with contextlib.suppress(OSError):
                for pid in (group / "cgroup.procs").read_text().split():
                    with contextlib.suppress(OSError):
                        (parent / "cgroup.procs").write_text(pid)
        for path in (self.cpu, self.memory):
            for _ in range(20):
                try:
                    path.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.1)


# -- load -----------------------------------------------------------------------------

Call = Callable[[aiohttp.ClientSession], Awaitable[bool]]


@dataclass
class Step:
    """One constant-rate step (or the closed-loop probe)."""

    rate: float  # offered, req/s (0 for the probe)
    seconds: float
    latencies: list[float] = field(default_factory=list)  # of the successful ones, s
    failures: Counter[str] = field(default_factory=Counter)
    due: int = 0
    cpu_seconds: float = 0.0
    load: float = 0.0

    @property
    def done(self) -> int:
        """Requests answered as expected."""
        return len(self.latencies)

    @property
    def throughput(self) -> float:
        """Successful requests per second."""
        return self.done / self.seconds

    def percentile(self, q: int) -> float:
        """A latency percentile (ms) of the successful requests."""
        if len(self.latencies) < 2:
            return float("nan")
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[q - 1] * 1000

    @property
    def cpu_ms(self) -> float:
        """The capped service's CPU ms per successful request."""
        return self.cpu_seconds * 1000 / max(1, self.done)

    @property
    def clean(self) -> bool:
        """Within the budget: p99 <= 250 ms, no failure, >= 95 % of the due requests done."""
        return (
            not self.failures
            and self.done >= COMPLETION_FLOOR * self.due
            and self.percentile(99) <= P99_BUDGET_MS
        )

    def summary(self) -> dict[str, Any]:
        """The step as JSON."""
        return {
            "rate": self.rate,
            "seconds": self.seconds,
            "due": self.due,
            "done": self.done,
            "p50_ms": self.percentile(50),
            "p99_ms": self.percentile(99),
            "failures": dict(self.failures),
            "cpu_ms_per_request": self.cpu_ms,
            "load": self.load,
            "clean": self.clean,
        }


async def _timed(call: Call, session: aiohttp.ClientSession, due: float, step: Step) -> None:
    try:
        ok = await asyncio.wait_for(call(session), REQUEST_TIMEOUT)
    except TimeoutError:
        step.failures["timeout"] += 1
        return
    except (aiohttp.ClientError, OSError) as exc:
        step.failures[type(exc).__name__] += 1
        return
    except Failed as exc:
        step.failures[str(exc)] += 1
        return
    if ok:
        step.latencies.append(time.perf_counter() - due)
    else:
        step.failures["unavailable"] += 1


class Failed(Exception):
    """A request answered something else than expected (the message names it)."""


async def open_step(
    session: aiohttp.ClientSession, call: Call, rate: float, seconds: float, capped: Child
) -> Step:
    """Sends ``call`` at ``rate`` per second for ``seconds``; waits for stragglers."""
    step = Step(rate, seconds)
    tasks: set[asyncio.Task[None]] = set()
    cpu_before = capped.cpu_seconds()
    began = time.perf_counter()
    step.due = int(rate * seconds)
    for i in range(step.due):
        due = began + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        if len(tasks) >= MAX_IN_FLIGHT:
            step.failures["overloaded (in flight)"] += 1
            continue
        task = asyncio.create_task(_timed(call, session, due, step))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.wait(tasks, timeout=REQUEST_TIMEOUT + 1)
    step.cpu_seconds = capped.cpu_seconds() - cpu_before
    step.load = os.getloadavg()[0]
    return step


async def closed_probe(
    session: aiohttp.ClientSession, call: Call, seconds: float, capped: Child, workers: int = 4
) -> Step:
    """``workers`` loops back to back: a first capacity estimate, and the warm-up."""
    step = Step(0.0, seconds)
    cpu_before = capped.cpu_seconds()
    stop_at = time.perf_counter() + seconds

    async def loop() -> None:
        while time.perf_counter() < stop_at:
            step.due += 1
            await _timed(call, session, time.perf_counter(), step)

    await asyncio.gather(*(loop() for _ in range(workers)))
    step.cpu_seconds = capped.cpu_seconds() - cpu_before
    step.load = os.getloadavg()[0]
    return step


# -- the shop the families run against -------------------------------------------------


@dataclass
class Shop:
    """Accounts, tokens, products the requests use."""

    platform: Platform
    admin_token: str = ""
    service_token: str = ""
    shoppers: list[Shopper] = field(default_factory=list)
    customer_ids: dict[str, str] = field(default_factory=dict)  # email -> user id
    free: asyncio.Queue[Shopper] | None = None
    product_ids: list[str] = field(default_factory=list)
    skus: list[str] = field(default_factory=list)
    refresh_tokens: list[str] = field(default_factory=list)
    logged_in_at: float = 0.0

    def url(self, service: str, path: str) -> str:
        """A route of ``service`` itself (not through the gateway)."""
        return self.platform.urls[service] + API + path

    def shopper(self) -> Shopper:
        """Any shopper (for read-only requests)."""
        return random.choice(self.shoppers)


def _subject(token: str) -> str:
    """The ``sub`` claim of a JWT (read, not verified: the services verify it)."""
    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return str(claims["sub"])


async def set_up(platform: Platform) -> Shop:
    """Products with unlimited stock, shoppers with cards, an admin, a service token."""
    shoppers, product_ids = await prepare(platform, SHOPPERS)
    shop = Shop(platform, shoppers=shoppers, product_ids=product_ids)
    shop.skus = [f"BENCH-{i:03d}" for i in range(len(product_ids))]
    shop.customer_ids = {s.email: _subject(s.token) for s in shoppers}
    await renew_tokens(shop, shoppers=False)
    await _refresh_pool(shop)  # refresh tokens rotate: each is used once, its successor goes back
    return shop


async def renew_tokens(shop: Shop, *, shoppers: bool = True) -> None:
    """Fresh access tokens (the admin's, the shoppers', order's service token), untimed."""
    gateway = shop.platform.urls["gateway"]
    async with aiohttp.ClientSession() as session:
        shop.admin_token = await _login(session, gateway, "bench-admin@example.com")
        for shopper in shop.shoppers if shoppers else ():
            shopper.token = await _login(session, gateway, shopper.email)
        secret = psutil.Process(shop.platform.children["order"].pid).environ()[
            "MERCATO_CLIENT_SECRET"
        ]
        grant = await _expect(
            session,
            "POST",
            f"{gateway}{API}/auth/token",
            200,
            json={
                "grant_type": "client_credentials",
                "client_id": "order",
                "client_secret": secret,
            },
        )
        shop.service_token = str(grant["access_token"])
    shop.logged_in_at = time.monotonic()


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _ok(response: aiohttp.ClientResponse, *expected: int) -> bool:
    await response.read()
    if response.status in (502, 503, 504):
        return False
    if response.status not in expected:
        raise Failed(f"status {response.status}")
    return True


@dataclass(frozen=True)
class Family:
    """A route family: which service is capped and the request one arrival sends."""

    name: str
    service: str
    route: str
    make: Callable[[Shop], Call]
    prepare: Callable[[Shop], Awaitable[None]] | None = None


def _get(
    service: str, path: Callable[[Shop], str], caller: str = "public"
) -> Callable[[Shop], Call]:
    def make(shop: Shop) -> Call:
        async def call(session: aiohttp.ClientSession) -> bool:
            headers = {}
            if caller == "customer":
                headers = _bearer(shop.shopper().token)
            elif caller == "admin":
                headers = _bearer(shop.admin_token)
            async with session.get(shop.url(service, path(shop)), headers=headers) as response:
                return await _ok(response, 200)

        return call

    return make


def _login_call(shop: Shop) -> Call:
    async def call(session: aiohttp.ClientSession) -> bool:
        body = {"email": shop.shopper().email, "password": PASSWORD}
        async with session.post(shop.url("auth", "/auth/login"), json=body) as response:
            return await _ok(response, 200)

    return call


async def _refresh_pool(shop: Shop) -> None:
    """One refresh token per shopper, from logins made while auth was still uncapped."""
    async with aiohttp.ClientSession() as session:
        shop.refresh_tokens = []
        for shopper in shop.shoppers:
            tokens = await _expect(
                session,
                "POST",
                shop.url("auth", "/auth/login"),
                200,
                json={"email": shopper.email, "password": PASSWORD},
            )
            shop.refresh_tokens.append(str(tokens["refresh_token"]))


def _refresh_call(shop: Shop) -> Call:
    async def call(session: aiohttp.ClientSession) -> bool:
        if not shop.refresh_tokens:
            raise Failed("no unused refresh token")
        token = shop.refresh_tokens.pop()
        async with session.post(
            shop.url("auth", "/auth/refresh"), json={"refresh_token": token}
        ) as response:
            body = await response.read()
            if response.status != 200:
                shop.refresh_tokens.append(token)  # not consumed
                if response.status in (502, 503, 504):
                    return False
                raise Failed(f"status {response.status}")
        shop.refresh_tokens.append(str(json.loads(body)["refresh_token"]))
        return True

    return call


async def _shopper_queue(shop: Shop) -> None:
    shop.free = asyncio.Queue()
    for shopper in shop.shoppers:
        shop.free.put_nowait(shopper)


def _with_shopper(
    act: Callable[[Shop, aiohttp.ClientSession, Shopper], Awaitable[bool]],
) -> Callable[[Shop], Call]:
    """A request made by a shopper no other request is using (carts are per customer)."""

    def make(shop: Shop) -> Call:
        async def call(session: aiohttp.ClientSession) -> bool:
            assert shop.free is not None
            try:
                shopper = shop.free.get_nowait()
            except asyncio.QueueEmpty:
                raise Failed("every shopper busy") from None
            try:
                return await act(shop, session, shopper)
            finally:
                shop.free.put_nowait(shopper)

        return call

    return make


async def _put_cart(shop: Shop, session: aiohttp.ClientSession, shopper: Shopper) -> bool:
    product = random.choice(shop.product_ids)
    async with session.put(
        shop.url("order", f"/cart/items/{product}"),
        json={"quantity": 1},
        headers=_bearer(shopper.token),
    ) as response:
        return await _ok(response, 200)


async def _checkout(shop: Shop, session: aiohttp.ClientSession, shopper: Shopper) -> bool:
    if not await _put_cart(shop, session, shopper):
        return False
    async with session.post(
        shop.url("order", "/orders"),
        json={"shipping_address": ADDRESS, "payment_method_id": shopper.card},
        headers={**_bearer(shopper.token), "Idempotency-Key": uuid.uuid4().hex},
    ) as response:
        body = await response.read()
        if response.status in (502, 503, 504):
            return False
        status = json.loads(body).get("status") if response.status in (201, 202) else None
        if response.status != 201 or status != "confirmed":
            raise Failed(f"checkout {response.status} {status or ''}".strip())
    return True


def _charge_call(shop: Shop) -> Call:
    async def call(session: aiohttp.ClientSession) -> bool:
        shopper = shop.shopper()
        body = {
            "order_id": str(uuid.uuid4()),
            "amount": {"amount": 1000, "currency": "EUR"},
            "payment_method_id": shopper.card,
            "customer_id": shop.customer_ids[shopper.email],
        }
        headers = {**_bearer(shop.service_token), "Idempotency-Key": uuid.uuid4().hex}
        async with session.post(
            shop.url("payment", "/payments/charges"), json=body, headers=headers
        ) as response:
            return await _ok(response, 201)

    return call


def _reserve_call(shop: Shop) -> Call:
    async def call(session: aiohttp.ClientSession) -> bool:
        body = {
            "order_id": str(uuid.uuid4()),
            "items": [{"sku": random.choice(shop.skus), "quantity": 1}],
            "ttl_seconds": 60,
        }
        async with session.post(
            shop.url("inventory", "/inventory/reservations"),
            json=body,
            headers=_bearer(shop.service_token),
        ) as response:
            return await _ok(response, 201)

    return call


def _gateway_call(shop: Shop) -> Call:
    async def call(session: aiohttp.ClientSession) -> bool:
        url = shop.url("gateway", f"/products/{random.choice(shop.product_ids)}")
        async with session.get(url) as response:
            return await _ok(response, 200)

    return call


def _today() -> str:
    return datetime.now(UTC).date().isoformat()


FAMILIES: tuple[Family, ...] = (
    Family(
        "product-list",
        "product",
        "GET /products?limit=20",
        _get("product", lambda s: "/products?limit=20"),
    ),
    Family(
        "product-by-id",
        "product",
        "GET /products/{id}",
        _get("product", lambda s: f"/products/{random.choice(s.product_ids)}"),
    ),
    Family("auth-login", "auth", "POST /auth/login (argon2id)", _login_call),
    Family("auth-refresh", "auth", "POST /auth/refresh", _refresh_call),
    Family("auth-jwks", "auth", "GET /auth/jwks.json", _get("auth", lambda s: "/auth/jwks.json")),
    Family(
        "cart",
        "order",
        "PUT /cart/items/{id}",
        _with_shopper(_put_cart),
        _shopper_queue,
    ),
    Family(
        "checkout",
        "order",
        "PUT /cart/items + POST /orders (saga)",
        _with_shopper(_checkout),
        _shopper_queue,
    ),
    Family("payment-charge", "payment", "POST /payments/charges", _charge_call),
    Family(
        "inventory-read",
        "inventory",
        "GET /inventory/{sku}",
        _get("inventory", lambda s: f"/inventory/{random.choice(s.skus)}"),
    ),
    Family("inventory-reserve", "inventory", "POST /inventory/reservations", _reserve_call),
    Family("gateway", "gateway", "GET /products/{id} via gateway", _gateway_call),
    Family(
        "review",
        "review",
        "GET /reviews?product_id=",
        _get("review", lambda s: f"/reviews?product_id={random.choice(s.product_ids)}"),
    ),
    Family("user", "user", "GET /users/me", _get("user", lambda s: "/users/me", "customer")),
    Family(
        "notification",
        "notification",
        "GET /notifications",
        _get("notification", lambda s: "/notifications", "customer"),
    ),
    Family(
        "analytics",
        "analytics",
        "GET /analytics/sales (7 days)",
        _get(
            "analytics",
            lambda s: (
                f"/analytics/sales?from={(datetime.now(UTC).date() - timedelta(days=6))}"
                f"&to={_today()}"
            ),
            "admin",
        ),
    ),
    Family("log", "log", "GET /logs?limit=20", _get("log", lambda s: "/logs?limit=20", "admin")),
    Family("health", "health", "GET /status", _get("health", lambda s: "/status")),
)


# -- one service, capped -----------------------------------------------------------------


@dataclass
class Outcome:
    """What one family sustained."""

    family: Family
    probe: Step
    steps: list[Step]
    peak_cgroup_mib: float = float("nan")
    peak_rss_mib: float = float("nan")
    throttled: dict[str, int] = field(default_factory=dict)

    @property
    def at_least(self) -> bool:
        """True when no step broke the budget: the replica sustains more than measured."""
        return bool(self.steps) and all(s.clean for s in self.steps)

    @property
    def best(self) -> Step | None:
        """The highest clean step."""
        clean = [s for s in self.steps if s.clean]
        return max(clean, key=lambda s: s.rate) if clean else None

    @property
    def cpu_ms(self) -> float:
        """CPU ms per request: median over the clean steps (the probe's if none was)."""
        samples = [s.cpu_ms for s in self.steps if s.clean and s.done] or [self.probe.cpu_ms]
        return statistics.median(samples)

    def summary(self) -> dict[str, Any]:
        """The outcome as JSON."""
        best = self.best
        return {
            "family": self.family.name,
            "service": self.family.service,
            "route": self.family.route,
            "sustained_per_second": best.throughput if best else 0.0,
            "at_least": self.at_least,
            "p50_ms": best.percentile(50) if best else None,
            "p99_ms": best.percentile(99) if best else None,
            "cpu_ms_per_request": self.cpu_ms,
            "peak_cgroup_mib": self.peak_cgroup_mib,
            "peak_rss_mib": self.peak_rss_mib,
            "throttled": self.throttled,
            "probe": self.probe.summary(),
            "steps": [s.summary() for s in self.steps],
        }


class RssSampler(threading.Thread):
    """Samples a process's RSS every 200 ms; keeps the peak."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak = 0
        self.stopping = threading.Event()

    def run(self) -> None:
        """Samples until stopped."""
        while not self.stopping.wait(0.2):
            with contextlib.suppress(psutil.Error):
                self.peak = max(self.peak, psutil.Process(self.pid).memory_info().rss)


def cap(processes: Processes, platform: Platform, service: str, group: Cgroup) -> Child:
    """Replaces ``service``'s process by one started inside ``group``, same port and env."""
    old = platform.children[service]
    env = psutil.Process(old.pid).environ()
    processes.stop(old)
    group.create()
    child = processes.start(
        f"{service}-capped",
        group.wrap([PYTHON, "-m", "mercato.platform.server", service]),
        env=env,
    )
    wait_http(platform.urls[service] + "/ready", child, timeout=120)
    platform.children[service] = child
    return child


async def measure(shop: Shop, family: Family, capped: Child, args: argparse.Namespace) -> Outcome:
    """The probe, then rising constant-rate steps until the budget breaks."""
    if time.monotonic() - shop.logged_in_at > TOKEN_LIFETIME.total_seconds():
        await renew_tokens(shop)
    if family.prepare is not None:
        await family.prepare(shop)
    call = family.make(shop)
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        probe = await closed_probe(session, call, args.probe_seconds, capped)
        estimate = max(probe.throughput, 1.0)
        progress(
            f"  probe {probe.throughput:7.1f} req/s p99 {probe.percentile(99):7.1f} ms "
            f"cpu {probe.cpu_ms:6.2f} ms/req failures {dict(probe.failures)}"
        )
        steps: list[Step] = []
        fractions = list(args.fractions)
        descending = False
        while fractions:
            fraction = fractions.pop(0)
            rate = round(max(estimate * fraction, 0.5), 1)
            step = await open_step(session, call, rate, args.step_seconds, capped)
            steps.append(step)
            progress(
                f"  {rate:7.1f} req/s offered: {step.throughput:7.1f} done, p50 "
                f"{step.percentile(50):7.1f} p99 {step.percentile(99):7.1f} ms, cpu "
                f"{step.cpu_ms:6.2f} ms/req, failures {dict(step.failures)}, "
                f"load {step.load:.2f} {'ok' if step.clean else 'OVER'}"
            )
            if step.clean and descending:
                break
            if not step.clean:
                if len(steps) == 1:
                    # Over the budget from the first step (a loaded machine stretches the
                    # queue): look below instead, down to half a request per second.
                    descending = True
                    fractions = [fraction * f for f in DOWNWARD]
                elif not descending or rate <= 0.5:
                    break
            await asyncio.sleep(0.5)
    await asyncio.sleep(0.5)  # let the last stragglers drain before the next family
    return Outcome(family, probe, steps)


def run_service(
    processes: Processes,
    platform: Platform,
    shop: Shop,
    service: str,
    families: Sequence[Family],
    args: argparse.Namespace,
) -> list[Outcome]:
    """Caps ``service``, measures its families, uncaps it."""
    group = Cgroup(f"mercato-budget-{os.getpid()}-{service}")
    progress(f"capping {service} at 250m / 256 MiB")
    try:
        capped = cap(processes, platform, service, group)
        sampler = RssSampler(capped.pid)
        sampler.start()
        outcomes = []
        for family in families:
            progress(f"{family.name}: {family.route}")
            before = group.throttled()
            outcome = asyncio.run(measure(shop, family, capped, args))
            after = group.throttled()
            outcome.throttled = {k: after.get(k, 0) - before.get(k, 0) for k in after}
            outcome.peak_cgroup_mib = group.peak_memory_mib()
            outcome.peak_rss_mib = sampler.peak / 2**20
            outcomes.append(outcome)
            if capped.process.poll() is not None:
                raise BenchError(f"{service} died under the cap:\n{capped.log_tail()}")
        sampler.stopping.set()
        return outcomes
    finally:
        group.release()


# -- main and report ---------------------------------------------------------------------


def main() -> int:
    """Starts the platform, then caps one service after the other."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short steps: <= 5 minutes")
    parser.add_argument("--step-seconds", type=float, default=5.0, help="seconds per rate step")
    parser.add_argument("--probe-seconds", type=float, default=3.0, help="closed-loop probe")
    parser.add_argument("--families", default="", help="comma-separated (default: all)")
    parser.add_argument("--json", action="store_true", help="also write bench/results/*.json")
    args = parser.parse_args()
    if args.quick:
        args.step_seconds, args.probe_seconds = 2.0, 1.0
        args.fractions = [0.6, 0.85, 1.1, 1.4]
    else:
        args.fractions = [0.4, 0.6, 0.75, 0.9, 1.0, 1.1, 1.25, 1.5]
    chosen = [f for f in FAMILIES if not args.families or f.name in args.families.split(",")]
    if not chosen:
        raise BenchError(f"no such family; choose from {', '.join(f.name for f in FAMILIES)}")

    began = time.monotonic()
    outcomes: list[Outcome] = []
    with Processes(prefix="mercato-budget-") as processes:
        platform = start_platform(processes, catalog.names())
        shop = asyncio.run(set_up(platform))
        asyncio.run(_warm_analytics(shop))
        before = machine_state()
        for service in dict.fromkeys(f.service for f in chosen):
            families = [f for f in chosen if f.service == service]
            outcomes += run_service(processes, platform, shop, service, families, args)
        after = machine_state()
    elapsed = time.monotonic() - began
    if args.json:
        path = write_results(
            "budget",
            {
                "args": vars(args),
                "before": before,
                "after": after,
                "elapsed_seconds": elapsed,
                "outcomes": [o.summary() for o in outcomes],
            },
        )
        progress(f"wrote {path}")
    report(outcomes, args, before, after, elapsed)
    return 0


async def _warm_analytics(shop: Shop) -> None:
    """A few orders so analytics and review have rows to read (not measured)."""
    async with aiohttp.ClientSession() as session:
        shopper = shop.shoppers[0]
        for _ in range(3):
            await _put_cart(shop, session, shopper)
            await _expect(
                session,
                "POST",
                shop.url("order", "/orders"),
                201,
                json={"shipping_address": ADDRESS, "payment_method_id": shopper.card},
                headers={**_bearer(shopper.token), "Idempotency-Key": uuid.uuid4().hex},
            )


def report(
    outcomes: Sequence[Outcome],
    args: argparse.Namespace,
    before: dict[str, Any],
    after: dict[str, Any],
    elapsed: float,
) -> None:
    """Prints the table (Markdown, for docs/BENCHMARKS.md and docs/deploy.md)."""
    print(
        f"\none replica at 250m CPU / 256 MiB, p99 <= {P99_BUDGET_MS:g} ms, open model, "
        f"{args.step_seconds:g}s steps; {before['when']} .. {after['when']} ({elapsed:.0f}s); "
        f"{before['cpus']} CPUs\nbefore: {before['uptime']}\nafter:  {after['uptime']}\n"
    )
    rows = []
    for o in outcomes:
        best = o.best
        rows.append(
            [
                o.family.service,
                o.family.name,
                o.family.route,
                (">= " if o.at_least else "") + f"{best.throughput:.1f}" if best else "0",
                best.percentile(50) if best else float("nan"),
                best.percentile(99) if best else float("nan"),
                o.cpu_ms,
                250 / o.cpu_ms if o.cpu_ms == o.cpu_ms and o.cpu_ms else float("nan"),
                o.peak_cgroup_mib,
                o.peak_rss_mib,
            ]
        )
    print_table(
        [
            "service",
            "family",
            "route",
            "sustained req/s",
            "p50 ms",
            "p99 ms",
            "CPU ms/req",
            "250m / CPU",
            "peak cgroup MiB",
            "peak RSS MiB",
        ],
        rows,
    )


if __name__ == "__main__":
    main_guard(main)
