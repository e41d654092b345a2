"""One fault experiment: platform up, load on, one fault in and out, settle, audit, report.

The platform is the runner's (``mercato up`` in a subprocess, its own data dir and port
offset), the load is ``mercato load`` (a subprocess), and a probe of its own reads the
catalog through the gateway twice a second to time the outage and the recovery. Faults
are signals to the processes the runner started, read from its state file: SIGKILL or
SIGTERM to a service (the runner starts it again), SIGSTOP then SIGCONT to an engine
(frozen: it holds its connections but answers nothing), SIGKILL to PostgreSQL (the runner
starts it again, and it recovers from its write-ahead log).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from mercato import catalog
from mercato.chaos import audit
from mercato.platform.db import with_database
from mercato.runner import state as statefile
from mercato.runner.admin import database_server

PROBE_PATH = "/api/v1/products?limit=1"
PROBE_INTERVAL_SECONDS = 0.5
ENGINE_FAULTS = {"postgres-freeze": "postgres", "nats-down": "nats", "s3-down": "s3"}
ENGINE_KILLS = {"postgres-restart": "postgres"}
ENGINE_RESTART_TIMEOUT = 120.0
Say = Callable[[str], None]


class ExperimentError(RuntimeError):
    """The experiment could not run (the platform did not start, a name is unknown)."""


@dataclass(frozen=True)
class ChaosOptions:
    """What ``mercato chaos`` was asked to do."""

    name: str
    data_dir: Path
    port_offset: int = 300
    users: int = 3
    load_seconds: float = 120.0
    fault_seconds: float = 30.0
    kills: int = 3
    settle_seconds: float = 60.0
    seed: int | None = None


@dataclass
class Probe:
    """The gateway's answers to a steady read, timed."""

    answers: list[tuple[float, int]] = field(default_factory=list)
    # (sent at, seconds until the answer): a hang shows here, not as many errors.
    waits: list[tuple[float, float]] = field(default_factory=list)

    def slowest_between(self, start: float, end: float) -> float:
        """The longest wait for an answer to a probe sent between ``start`` and ``end``."""
        return max((w for t, w in self.waits if start <= t < end), default=0.0)

    def errors_between(self, start: float, end: float) -> int:
        """Answers other than 200 between ``start`` and ``end`` (monotonic seconds)."""
        return sum(1 for t, status in self.answers if start <= t < end and status != 200)

    def recovered_at(self, after: float) -> float | None:
        """When the answers turned 200 for good after ``after``; None if they never did."""
        last_error = max((t for t, s in self.answers if t >= after and s != 200), default=after)
        later = [t for t, s in self.answers if t >= last_error and s == 200]
        return later[0] if later else None


@dataclass
class Result:
    """What one experiment measured; written as JSON and as a Markdown row."""

    experiment: str
    started_at: str
    users: int
    load_seconds: float
    injected: str
    fault_seconds: float
    requests: int = 0
    load_failures: int = 0
    probe_errors_during: int = 0
    probe_errors_after: int = 0
    probe_slowest_seconds_during: float = 0.0
    recovery_seconds: float | None = None
    audit: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """The audit is clean and the platform recovered within 10 s of the fault's end."""
        return (
            bool(self.audit.get("clean"))
            and self.recovery_seconds is not None
            and self.recovery_seconds <= 10
        )

    def markdown_row(self) -> str:
        """One row of docs/RESILIENCE.md's table."""
        findings = sum(f["count"] for f in self.audit.get("findings", []))
        recovery = "never" if self.recovery_seconds is None else f"{self.recovery_seconds:.1f} s"
        return (
            f"| `{self.experiment}` | {self.users} users, {self.load_seconds:.0f} s "
            f"({self.requests} requests) | {self.injected} | {self.load_failures} "
            f"| {self.probe_errors_during} / {self.probe_errors_after} "
            f"| {self.probe_slowest_seconds_during:.1f} s | {recovery} "
            f"| {findings} |"
        )


def experiment_names() -> list[str]:
    """Every experiment ``mercato chaos`` knows, for the catalog as it is now."""
    services = list(catalog.names())
    return [
        *(f"kill-{s}" for s in services),
        "kill-each",
        *(f"graceful-restart-{s}" for s in services),
        *ENGINE_FAULTS,
        *ENGINE_KILLS,
    ]


def run_experiment(options: ChaosOptions, say: Say) -> Result:
    """Runs the experiment ``options.name`` and writes its result under the data dir."""
    if options.name not in experiment_names():
        raise ExperimentError(
            f"no experiment {options.name!r}; known: {', '.join(experiment_names())}"
        )
    data_dir = options.data_dir.resolve()
    with _platform(data_dir, options.port_offset, say) as gateway_url:
        result = asyncio.run(_experiment(options, data_dir, gateway_url, say))
    out = data_dir / "chaos"
    out.mkdir(parents=True, exist_ok=True)
    stamp = result.started_at.replace(":", "").replace("-", "")
    (out / f"{options.name}-{stamp}.json").write_text(
        json.dumps({**asdict(result), "passed": result.passed}, indent=2)
    )
    with (out / "results.md").open("a") as table:
        table.write(result.markdown_row() + "\n")
    return result


@contextlib.contextmanager
def _platform(data_dir: Path, port_offset: int, say: Say) -> Iterator[str]:
    """``mercato up`` with the demo data loaded; the gateway's URL until it stops."""
    data_dir.mkdir(parents=True, exist_ok=True)
    log = (data_dir / "chaos-runner.log").open("ab")
    runner = subprocess.Popen(
        [
            *(sys.executable, "-m", "mercato.cli", "up", "--data-dir", str(data_dir)),
            *("--port-offset", str(port_offset), "--port", str(8080 + port_offset)),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        gateway = _wait_running(data_dir, runner)
        say(f"platform running, gateway at {gateway}; loading the demo data")
        subprocess.run(
            [sys.executable, "-m", "mercato.cli", "seed", "--data-dir", str(data_dir)],
            check=True,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        yield gateway
    finally:
        if runner.poll() is None:
            runner.send_signal(signal.SIGINT)
            try:
                runner.wait(120)
            except subprocess.TimeoutExpired:
                os.killpg(runner.pid, signal.SIGKILL)
                runner.wait()
        log.close()


def _wait_running(data_dir: Path, runner: subprocess.Popen[bytes], timeout: float = 300) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if runner.poll() is not None:
            raise ExperimentError(f"the runner exited with {runner.returncode}; see its log")
        with contextlib.suppress(statefile.StateFileError):
            state = statefile.read(data_dir)
            if state is not None and state.state == "running":
                gateway = state.service("gateway")
                if gateway is not None:
                    return gateway.url
        time.sleep(0.5)
    raise ExperimentError(f"the platform was not running after {timeout:.0f} s")


async def _experiment(options: ChaosOptions, data_dir: Path, gateway: str, say: Say) -> Result:
    rng = random.Random(options.seed)  # noqa: S311 (when to kill, not a secret)
    result = Result(
        experiment=options.name,
        started_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        users=options.users,
        load_seconds=options.load_seconds,
        injected="",
        fault_seconds=options.fault_seconds,
    )
    probe = Probe()
    stop_probe = asyncio.Event()
    probing = asyncio.create_task(_probe(gateway, probe, stop_probe))
    load = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "mercato.cli", "load", "--host", gateway, "--data-dir"],
        str(data_dir),
        *["--users", str(options.users), "--spawn-rate", str(options.users)],
        *["--run-time", f"{options.load_seconds:.0f}s", "--wait-min", "0.5", "--wait-max", "2"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    # The fault comes once the shoppers are at work, and ends before the load does.
    await asyncio.sleep(min(options.load_seconds / 4, 10))
    fault_began = time.monotonic()
    result.injected = await _inject(options, data_dir, rng, say)
    fault_ended = time.monotonic()
    if options.name in ENGINE_KILLS:  # the outage lasts as long as the restart took
        result.fault_seconds = round(fault_ended - fault_began, 1)
    say(f"injected {result.injected}")
    await load.wait()
    load_ended = datetime.now(UTC)
    # Every order the load placed must end; the audit is read until it is clean or the
    # settling time is over (its last reading is the result).
    settle_until = time.monotonic() + options.settle_seconds
    with database_server(data_dir, os.environ, say) as server:
        sources = _sources(data_dir, server, load_ended)
        while True:
            report = await audit.audit(sources)
            if report.clean or time.monotonic() > settle_until:
                break
            await asyncio.sleep(2)
    stop_probe.set()
    await probing
    result.audit = report.to_dict()
    result.probe_errors_during = probe.errors_between(fault_began, fault_ended)
    result.probe_errors_after = probe.errors_between(fault_ended, time.monotonic())
    result.probe_slowest_seconds_during = probe.slowest_between(fault_began, fault_ended)
    recovered = probe.recovered_at(fault_ended)
    result.recovery_seconds = None if recovered is None else max(0.0, recovered - fault_ended)
    result.requests, result.load_failures = _load_figures(data_dir)
    return result


def _sources(data_dir: Path, server: str, terminal_before: datetime) -> audit.Sources:
    state = statefile.read(data_dir)
    nats = state.engine("nats") if state else None
    return audit.Sources(
        database_urls={
            s.name: with_database(server, s.database)
            for s in catalog.SERVICES.values()
            if s.database
        },
        nats_url=nats.url if nats else None,
        terminal_before=terminal_before,
    )


async def _probe(gateway: str, probe: Probe, stop: asyncio.Event) -> None:
    async with httpx.AsyncClient(base_url=gateway, timeout=20) as client:
        while not stop.is_set():
            sent = time.monotonic()
            try:
                status = (await client.get(PROBE_PATH)).status_code
            except httpx.HTTPError:
                status = 0
            probe.answers.append((time.monotonic(), status))
            probe.waits.append((sent, time.monotonic() - sent))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), PROBE_INTERVAL_SECONDS)


async def _inject(options: ChaosOptions, data_dir: Path, rng: random.Random, say: Say) -> str:
    name = options.name
    if name in ENGINE_FAULTS:
        engine = ENGINE_FAULTS[name]
        pid = _pid(data_dir, engine, engine=True)
        os.kill(pid, signal.SIGSTOP)
        try:
            await asyncio.sleep(options.fault_seconds)
        finally:
            os.kill(pid, signal.SIGCONT)
        return f"SIGSTOP {engine} for {options.fault_seconds:.0f} s, then SIGCONT"
    if name in ENGINE_KILLS:
        engine = ENGINE_KILLS[name]
        pid = _pid(data_dir, engine, engine=True)
        killed = time.monotonic()
        os.kill(pid, signal.SIGKILL)
        await _engine_restarted(data_dir, engine, pid)
        took = time.monotonic() - killed
        say(f"{engine} runs again {took:.1f} s after SIGKILL")
        return f"SIGKILL {engine}; the runner had it running again in {took:.1f} s"
    if name.startswith("graceful-restart-"):
        service = name.removeprefix("graceful-restart-")
        await _signal_service(data_dir, service, signal.SIGTERM)
        return f"SIGTERM {service}"
    targets = list(catalog.names()) if name == "kill-each" else [name.removeprefix("kill-")]
    for service in targets:
        # Order and payment carry the checkout's saga: they are killed several times,
        # at random moments, so a kill lands mid-saga sooner or later.
        times = options.kills if service in ("order", "payment") else 1
        for _ in range(times):
            await asyncio.sleep(rng.uniform(0.5, 3.0))
            await _signal_service(data_dir, service, signal.SIGKILL)
            say(f"SIGKILL {service}")
    kills = ", ".join(targets)
    return f"SIGKILL {kills}" + (f" ({options.kills}x order/payment)" if len(targets) > 1 else "")


async def _signal_service(data_dir: Path, service: str, sig: signal.Signals) -> None:
    """Signals ``service``, then waits until the runner has it ready again."""
    pid = _pid(data_dir, service)
    os.kill(pid, sig)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        state = statefile.read(data_dir)
        entry = state.service(service) if state else None
        if entry is not None and entry.pid not in (None, pid) and entry.state == "ready":
            return
        await asyncio.sleep(0.2)
    raise ExperimentError(f"{service} was not ready again 120 s after {sig.name}")


async def _engine_restarted(data_dir: Path, engine: str, pid: int) -> None:
    """Waits until the runner has ``engine`` running again as a process other than ``pid``."""
    deadline = time.monotonic() + ENGINE_RESTART_TIMEOUT
    while time.monotonic() < deadline:
        with contextlib.suppress(statefile.StateFileError):
            state = statefile.read(data_dir)
            entry = state.engine(engine) if state else None
            if entry is not None and entry.pid not in (None, pid) and entry.state == "running":
                return
        await asyncio.sleep(0.1)
    raise ExperimentError(
        f"{engine} was not running again {ENGINE_RESTART_TIMEOUT:.0f} s after SIGKILL"
    )


def _pid(data_dir: Path, name: str, *, engine: bool = False) -> int:
    state = statefile.read(data_dir)
    entry = (state.engine(name) if engine else state.service(name)) if state else None
    if entry is None or entry.pid is None:
        raise ExperimentError(f"{name} does not run from {data_dir}")
    return entry.pid


def _load_figures(data_dir: Path) -> tuple[int, int]:
    """Requests sent and failed by the newest load run of ``data_dir``."""
    runs = sorted((data_dir / "load").glob("*/summary.json"))
    if not runs:
        return 0, 0
    total = json.loads(runs[-1].read_text())["total"]
    return int(total["requests"]), int(total["failures"])
