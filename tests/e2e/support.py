"""Helpers for end-to-end tests: `mercato up` in a subprocess, in a temporary data dir."""

from __future__ import annotations

import atexit
import base64
import contextlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psutil

from mercato.runner import plan, seed
from mercato.runner import state as statefile
from mercato.runner.engines import EnginePorts

MERCATO = [sys.executable, "-m", "mercato.cli"]
START_DEADLINE = 240.0
STOP_DEADLINE = 120.0
PASSWORD = "correct-horse-battery"
T = TypeVar("T")


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_offset() -> int:
    """A port offset under which every service and engine port is free right now."""
    base = [*plan.service_ports().values(), *vars(EnginePorts()).values()]
    for _ in range(500):
        offset = random.randrange(1000, 30000)
        if all(port_free(port + offset) for port in base):
            return offset
    raise RuntimeError("no free port offset found")


# As root, the runners of these tests keep PostgreSQL's binaries and clusters here (not in
# /var/lib/mercato), removed when the tests end.
POSTGRES_HOME = Path(tempfile.gettempdir()) / f"mercato-e2e-postgres-{uuid.uuid4().hex[:8]}"
atexit.register(shutil.rmtree, POSTGRES_HOME, ignore_errors=True)


def runner_env(**extra: str) -> dict[str, str]:
    """The test's environment without MERCATO_* settings that would leak into the platform."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MERCATO_")}
    env["MERCATO_POSTGRES_HOME"] = str(POSTGRES_HOME)
    env.update(extra)
    return env


def eventually(check: Callable[[], T | None], *, what: str, deadline: float = 60.0) -> T:
    """Polls ``check`` until it returns something other than None."""
    end = time.monotonic() + deadline
    while True:
        result = check()
        if result is not None:
            return result
        if time.monotonic() > end:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.2)


def mercato(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*MERCATO, *args],
        capture_output=True,
        text=True,
        env=env or runner_env(),
        timeout=180,
        check=False,
    )


def jwt_claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def new_data_dir() -> Path:
    """A data dir inside a new private (0700) directory, as in a clone under /root."""
    return Path(tempfile.mkdtemp(prefix="mercato-e2e-runner-")) / "data"


@dataclass
class RunningPlatform:
    """One `mercato up` subprocess and what it wrote."""

    data_dir: Path
    offset: int
    services: list[str] | None = None
    env: dict[str, str] = field(default_factory=runner_env)
    extra_args: list[str] = field(default_factory=list)
    process: subprocess.Popen[bytes] | None = None
    output: Path | None = None

    def start(self) -> RunningPlatform:
        args = ["up", "--data-dir", str(self.data_dir), "--port-offset", str(self.offset)]
        if self.services:
            args += ["--services", ",".join(self.services)]
        args += self.extra_args
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        self.output = self.data_dir.parent / f"up-{uuid.uuid4().hex[:6]}.out"
        with open(self.output, "wb") as out:
            self.process = subprocess.Popen(
                [*MERCATO, *args], stdout=out, stderr=subprocess.STDOUT, env=self.env
            )
        return self

    def output_tail(self, lines: int = 60) -> str:
        if self.output is None or not self.output.exists():
            return ""
        return "\n".join(self.output.read_text(errors="replace").splitlines()[-lines:])

    def state(self) -> statefile.RunnerState | None:
        with contextlib.suppress(statefile.StateFileError):
            return statefile.read(self.data_dir)
        return None

    def wait_running(self) -> statefile.RunnerState:
        assert self.process is not None

        def running() -> statefile.RunnerState | None:
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(
                    f"mercato up exited with {self.process.returncode}:\n{self.output_tail()}"
                )
            state = self.state()
            if state is not None and state.pid == self.pid and state.state == "running":
                return state
            return None

        return eventually(running, what="every service ready", deadline=START_DEADLINE)

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def url(self, service: str) -> str:
        state = self.state()
        assert state is not None
        entry = state.service(service)
        assert entry is not None
        return entry.url

    def descendants(self) -> list[psutil.Process]:
        return psutil.Process(self.pid).children(recursive=True)

    def stop(self) -> int:
        """SIGTERM, then check that nothing the runner started survives it."""
        assert self.process is not None
        started = self.descendants()
        assert started, "the runner had no child processes"
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(STOP_DEADLINE)
        assert_gone(started, self.data_dir)
        return code

    def kill(self) -> None:
        """Ends the runner however it is (fixture teardown)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_DEADLINE)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def is_alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def describe(process: psutil.Process) -> str:
    with contextlib.suppress(psutil.Error):
        return f"{process.pid}: {' '.join(process.cmdline())}"
    return str(process.pid)


def processes_mentioning(path: Path) -> list[str]:
    found = []
    for process in psutil.process_iter(["pid", "cmdline"]):
        with contextlib.suppress(psutil.Error):
            cmdline = " ".join(process.info["cmdline"] or [])
            if str(path) in cmdline and process.pid != os.getpid():
                found.append(f"{process.pid}: {cmdline}")
    return found


def assert_gone(processes: list[psutil.Process], data_dir: Path) -> None:
    """None of ``processes`` and no process naming ``data_dir`` is alive."""

    def all_gone() -> bool | None:
        return True if not any(is_alive(p) for p in processes) else None

    with contextlib.suppress(AssertionError):
        eventually(all_gone, what="the runner's processes to exit", deadline=60)
    survivors = [describe(p) for p in processes if is_alive(p)]
    assert survivors == [], f"processes outlived the runner: {survivors}"
    assert processes_mentioning(data_dir) == []


def ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/ready", timeout=3).status_code == 200
    except httpx.HTTPError:
        return False


def login(base: str, email: str, password: str = PASSWORD) -> httpx.Response:
    return httpx.post(
        f"{base}/api/v1/auth/login", json={"email": email, "password": password}, timeout=30
    )


def login_as_new_customer(gateway: str) -> tuple[str, str, str]:
    """Registers and logs in a new customer; (access token, refresh token, email)."""
    email = f"customer-{uuid.uuid4().hex[:8]}@example.com"
    reply = httpx.post(
        f"{gateway}/api/v1/auth/register",
        json={"email": email, "password": PASSWORD, "name": "Ada"},
        timeout=30,
    )
    assert reply.status_code == 201, reply.text
    tokens = login(gateway, email)
    assert tokens.status_code == 200, tokens.text
    return tokens.json()["access_token"], tokens.json()["refresh_token"], email


@contextlib.contextmanager
def seeded_platform() -> Iterator[RunningPlatform]:
    """`mercato up --seed` with every service (own data dir and port offset), until the
    demo data is in; stopped and removed on exit."""
    running = RunningPlatform(new_data_dir(), free_offset(), extra_args=["--seed"]).start()
    try:
        running.wait_running()
        eventually(
            lambda: True if seed.DEMO_CUSTOMER_EMAIL in running.output_tail(400) else None,
            what="the demo data",
            deadline=180,
        )
        yield running
    finally:
        running.kill()
        shutil.rmtree(running.data_dir.parent, ignore_errors=True)
