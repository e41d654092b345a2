"""``mercato status``: what the runner of a data dir started, checked live."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from rich.console import Console
from rich.table import Table
from rich.text import Text

from mercato.runner import display, probes
from mercato.runner import state as statefile
from mercato.runner.engines import port_is_open

# Exit statuses of `mercato status`.
RUNNING = 0
NOT_RUNNING = 1
DEGRADED = 2


@dataclass(frozen=True)
class ServiceCheck:
    """One service as seen right now."""

    name: str
    url: str
    pid: int | None
    alive: bool
    health: int | None
    ready: int | None
    state: str
    restarts: int

    @property
    def ok(self) -> bool:
        """Alive, healthy and ready."""
        return self.alive and self.health == 200 and self.ready == 200


async def check_services(runner: statefile.RunnerState) -> list[ServiceCheck]:
    """Probes every service of the state file's run: its pid, /health and /ready."""
    async with probes.new_session() as session:

        async def check(s: statefile.ServiceState) -> ServiceCheck:
            health, ready = await asyncio.gather(
                probes.status_of(session, f"{s.url}/health"),
                probes.status_of(session, f"{s.url}/ready", timeout=3.0),
            )
            return ServiceCheck(
                s.name,
                s.url,
                s.pid,
                statefile.pid_alive(s.pid),
                health,
                ready,
                s.state,
                s.restarts,
            )

        return list(await asyncio.gather(*(check(s) for s in runner.services)))


def engine_answers(engine: statefile.EngineState) -> bool:
    """True when the engine's main port accepts connections."""
    parts = urlsplit(engine.url)
    port = engine.port or parts.port
    if port is None:
        return False
    return port_is_open(port, parts.hostname or "127.0.0.1")


def show_status(data_dir: Path, console: Console) -> int:
    """Prints what runs from ``data_dir``; the exit status (0 running, 1 not, 2 degraded)."""
    data_dir = data_dir.resolve()
    try:
        runner = statefile.read(data_dir)
    except statefile.StateFileError as exc:
        console.print(f"Mercato is not running: {statefile.state_path(data_dir)}: {exc}")
        return NOT_RUNNING
    if runner is None:
        console.print(f"Mercato is not running from {data_dir} (no state file).")
        return NOT_RUNNING
    if not statefile.runner_alive(runner):
        console.print(
            f"Mercato is not running from {data_dir}: the state file was left by a runner "
            f"(pid {runner.pid}, started {runner.started_at}) that is gone. "
            "`mercato up` replaces it."
        )
        return NOT_RUNNING

    checks = asyncio.run(check_services(runner))
    services = Table(title="Services", title_justify="left")
    for column in (
        "service",
        "url",
        "pid",
        "process",
        "health",
        "ready",
        "supervisor",
        "restarts",
    ):
        services.add_column(column, overflow="fold")
    for c in checks:
        services.add_row(
            Text(c.name, style=display.colour_for(c.name)),
            c.url,
            str(c.pid or "—"),
            _yes_no(c.alive, "alive", "gone"),
            _http(c.health),
            _http(c.ready),
            Text(c.state, style=display.STATE_STYLES.get(c.state, "")),
            str(c.restarts),
        )
    engines = Table(title="Engines", title_justify="left")
    for column in ("engine", "url", "pid", "answers"):
        engines.add_column(column, overflow="fold")
    engines_ok = True
    for e in runner.engines:
        answers = engine_answers(e) if e.port or e.external else statefile.pid_alive(e.pid)
        engines_ok = engines_ok and answers
        engines.add_row(
            Text(e.name, style=display.colour_for(e.name)),
            e.url,
            "external" if e.external else str(e.pid or "—"),
            _yes_no(answers, "yes", "no"),
        )
    healthy = all(c.ok for c in checks) and engines_ok
    headline = (
        Text("Mercato is running", style="bold green")
        if healthy
        else Text("Mercato is running, degraded", style="bold yellow")
    )
    ready = f", ready after {runner.ready_seconds:.1f}s" if runner.ready_seconds else ""
    console.print(
        headline
        + Text(f" (runner pid {runner.pid}, {runner.state}, since {runner.started_at}{ready})")
    )
    console.print(services)
    console.print(engines)
    console.print(f"data {data_dir}   logs {data_dir / 'logs'}")
    return RUNNING if healthy else DEGRADED


def _http(status: int | None) -> Text:
    if status is None:
        return Text("no answer", style="red")
    return Text(str(status), style="green" if status == 200 else "red")


def _yes_no(value: bool, yes: str, no: str) -> Text:
    return Text(yes, style="green") if value else Text(no, style="red")
