"""The start gate: a service process loads everything, then serves only after the runner's go."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from mercato.platform.server import START_GATE
from mercato.runner.engines import free_port

DEADLINE = 120.0  # the process imports FastAPI and SQLAlchemy; the machine may be busy


@contextmanager
def gated_health(port: int) -> Iterator[subprocess.Popen[bytes]]:
    """The health service (no engines) started as the runner starts it, behind the gate."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MERCATO_")},
        "MERCATO_SERVICE": "health",
        "MERCATO_ENV": "dev",
        "MERCATO_HOST": "127.0.0.1",
        "MERCATO_PORT": str(port),
        "MERCATO_ENGINE_PROBES": "{}",
        START_GATE: "stdin",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "mercato.platform.server", "health"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
        process.wait(30)
        for pipe in (process.stdin, process.stdout):
            if pipe is not None:
                pipe.close()


def wait_at_gate(process: subprocess.Popen[bytes]) -> list[bytes]:
    """The lines the process wrote until it said it waits at the gate."""
    assert process.stdout is not None
    lines = []
    for line in process.stdout:
        lines.append(line)
        if b"waiting at the start gate" in line:
            return lines
    pytest.fail(f"the process ended before its gate: {b''.join(lines).decode()}")


def port_is_bound(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def health_status(port: int) -> int | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as reply:
            return int(reply.status)
    except (urllib.error.URLError, OSError):
        return None


def test_a_gated_service_listens_only_after_go() -> None:
    port = free_port()
    with gated_health(port) as process:
        wait_at_gate(process)
        assert process.poll() is None
        assert not port_is_bound(port)

        assert process.stdin is not None
        process.stdin.write(b"go\n")
        process.stdin.close()
        deadline = time.monotonic() + DEADLINE
        while health_status(port) != 200:
            assert process.poll() is None, "the service died after go"
            assert time.monotonic() < deadline, "the service did not answer after go"
            time.sleep(0.05)


def test_a_gated_service_leaves_without_serving_when_the_gate_closes() -> None:
    port = free_port()
    with gated_health(port) as process:
        wait_at_gate(process)
        assert process.stdin is not None
        process.stdin.close()
        assert process.wait(DEADLINE) == 0
        assert not port_is_bound(port)
