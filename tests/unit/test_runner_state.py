"""The runner's state file: written atomically, read back, stale ones recognised."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mercato.runner import state as statefile
from mercato.runner.state import EngineState, RunnerState, ServiceState


def running_state(pid: int | None = None) -> RunnerState:
    pid = pid or os.getpid()
    return RunnerState(
        pid=pid,
        started_at="2025-01-01T00:00:00+00:00",
        data_dir="/tmp/x",
        port_offset=100,
        process_started=statefile.process_started(pid),
        state="running",
        services=[ServiceState("auth", "http://127.0.0.1:8201", 123, "ready", 2)],
        engines=[
            EngineState("postgres", "postgresql://m:***@127.0.0.1:15532/postgres", 7, port=15532),
            EngineState("nats", "nats://elsewhere:4222", external=True, state="external"),
        ],
    )


def test_a_written_state_reads_back_the_same(tmp_path: Path) -> None:
    written = running_state()
    statefile.write(tmp_path, written)
    assert statefile.read(tmp_path) == written
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_no_file_means_nothing_runs(tmp_path: Path) -> None:
    assert statefile.read(tmp_path) is None


def test_a_corrupt_file_is_reported_as_such(tmp_path: Path) -> None:
    statefile.state_path(tmp_path).write_text("{not json")
    with pytest.raises(statefile.StateFileError):
        statefile.read(tmp_path)
    statefile.state_path(tmp_path).write_text('{"services": []}')
    with pytest.raises(statefile.StateFileError):
        statefile.read(tmp_path)


def test_lookups_by_name() -> None:
    state = running_state()
    service = state.service("auth")
    assert service is not None
    assert service.restarts == 2
    assert state.service("user") is None
    postgres = state.engine("postgres")
    assert postgres is not None
    assert postgres.port == 15532


def test_the_current_process_counts_as_a_live_runner() -> None:
    assert statefile.runner_alive(running_state())


def test_a_state_left_by_a_dead_runner_is_stale() -> None:
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    dead_pid = int(child.stdout)
    state = running_state()
    state.pid = dead_pid
    assert not statefile.runner_alive(state)


def test_a_recycled_pid_is_not_mistaken_for_the_runner() -> None:
    state = running_state()
    assert state.process_started is not None
    state.process_started -= 3600
    assert not statefile.runner_alive(state)


def test_pid_alive() -> None:
    assert statefile.pid_alive(os.getpid())
    assert not statefile.pid_alive(None)
