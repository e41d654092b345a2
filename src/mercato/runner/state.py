"""The state file ``<data-dir>/state.json``: what a running ``mercato up`` started.

The runner rewrites it (atomically) whenever something changes and removes it when it
stops. A runner killed by SIGKILL leaves it behind; :func:`runner_alive` tells such a
stale file from a live one by the runner's pid *and* its process start time, so a
recycled pid is not mistaken for the runner.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil

STATE_FILE = "state.json"
STATE_VERSION = 1


class StateFileError(ValueError):
    """The state file exists but cannot be read."""


@dataclass
class ServiceState:
    """One service process as the runner sees it."""

    name: str
    url: str
    pid: int | None = None
    state: str = "pending"
    restarts: int = 0


@dataclass
class EngineState:
    """One engine: started by the runner (with a pid) or external (without)."""

    name: str
    url: str
    pid: int | None = None
    state: str = "pending"
    external: bool = False
    port: int | None = None


@dataclass
class RunnerState:
    """Everything ``mercato status`` and the admin commands need to know."""

    pid: int
    started_at: str
    data_dir: str
    port_offset: int = 0
    gateway_port: int = 8080
    process_started: float | None = None  # psutil create_time of the runner
    state: str = "starting"
    ready_seconds: float | None = None
    services: list[ServiceState] = field(default_factory=list)
    engines: list[EngineState] = field(default_factory=list)
    version: int = STATE_VERSION

    def to_json(self) -> str:
        """The state as indented JSON."""
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> RunnerState:
        """Parses a state file's text; raises StateFileError when it is not one."""
        try:
            raw: dict[str, Any] = json.loads(text)
            return cls(
                pid=int(raw["pid"]),
                started_at=str(raw["started_at"]),
                data_dir=str(raw["data_dir"]),
                port_offset=int(raw.get("port_offset", 0)),
                gateway_port=int(raw.get("gateway_port", 8080)),
                process_started=raw.get("process_started"),
                state=str(raw.get("state", "starting")),
                ready_seconds=raw.get("ready_seconds"),
                services=[ServiceState(**s) for s in raw.get("services", [])],
                engines=[EngineState(**e) for e in raw.get("engines", [])],
                version=int(raw.get("version", STATE_VERSION)),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise StateFileError(f"not a Mercato state file: {exc}") from None

    def service(self, name: str) -> ServiceState | None:
        """The entry of service ``name``, if it runs."""
        return next((s for s in self.services if s.name == name), None)

    def engine(self, name: str) -> EngineState | None:
        """The entry of engine ``name``, if the run uses it."""
        return next((e for e in self.engines if e.name == name), None)


def state_path(data_dir: Path) -> Path:
    """Where the runner of ``data_dir`` keeps its state."""
    return data_dir / STATE_FILE


def read(data_dir: Path) -> RunnerState | None:
    """The state file of ``data_dir``, or None when there is none."""
    path = state_path(data_dir)
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    return RunnerState.from_json(text)


def write(data_dir: Path, state: RunnerState) -> None:
    """Replaces the state file atomically (readers never see half a file)."""
    path = state_path(data_dir)
    tmp = path.with_name(f".{STATE_FILE}.{os.getpid()}.tmp")
    tmp.write_text(state.to_json())
    tmp.replace(path)


def remove(data_dir: Path) -> None:
    """Deletes the state file, if any."""
    state_path(data_dir).unlink(missing_ok=True)


def process_started(pid: int) -> float | None:
    """When process ``pid`` started (psutil's create_time), or None if it does not exist."""
    try:
        return float(psutil.Process(pid).create_time())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def runner_alive(state: RunnerState) -> bool:
    """True when the runner that wrote ``state`` still runs (not a recycled pid)."""
    started = process_started(state.pid)
    if started is None:
        return False
    if state.process_started is None:
        return True
    return abs(started - state.process_started) < 1.0


def pid_alive(pid: int | None) -> bool:
    """True when ``pid`` names a running process (zombies count as gone)."""
    if pid is None:
        return False
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


class NotRunning(RuntimeError):
    """No platform with a gateway runs from the data dir; the message says why."""


def running_gateway_url(data_dir: Path, *, hint: str) -> str:
    """The gateway URL of the platform running from ``data_dir`` (``hint`` ends the error)."""
    try:
        runner = read(data_dir)
    except StateFileError as exc:
        raise NotRunning(str(exc)) from None
    if runner is None or not runner_alive(runner):
        raise NotRunning(f"Mercato is not running from {data_dir}: {hint}")
    gateway = runner.service("gateway")
    if gateway is None:
        raise NotRunning("the running Mercato has no gateway: start it with every service")
    return gateway.url
