r"""How long does ``mercato up`` take to all-ready, and what does an idle platform weigh?

Each round starts ``mercato up`` (the real CLI, in a subprocess, like a user would)
twice on the same data dir:

- cold: a fresh data dir (initdb, new databases, every migration, S3 set-up);
- warm: the same data dir again (existing data, migrations already at head).

"Ready" is the moment the runner's state file says ``running``, i.e. every service's
``/ready`` answered 200; the wall time is measured from the spawn of the CLI, so it
includes Python's start-up and imports. After the warm start the platform is left idle
for ``--settle`` seconds, then the resident memory (RSS, and USS: memory only that
process holds) of every service process and engine is read with psutil. Then SIGTERM,
and the time until the runner has stopped everything.

Run:

    .venv/bin/python bench/runner_startup.py --runs 5 --json
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from _common import PYTHON, BenchError, machine_state, main_guard, print_table, progress
from _common import write_results as save_results
from mercato.runner import plan
from mercato.runner import state as statefile
from mercato.runner.engines import EnginePorts

START_DEADLINE = 300.0
UP = [PYTHON, "-m", "mercato.cli", "up"]


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_offset(seed: int) -> int:
    """A port offset under which every service and engine port is free."""
    base = [*plan.service_ports().values(), *vars(EnginePorts()).values()]
    for offset in range(2000 + seed * 97, 30000, 173):
        if all(_port_free(port + offset) for port in base):
            return offset
    raise BenchError("no free port offset")


def clean_env() -> dict[str, str]:
    """The environment without MERCATO_* settings (no external engines)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("MERCATO_")}


class Up:
    """One ``mercato up`` subprocess."""

    def __init__(self, data_dir: Path, offset: int, log: Path) -> None:
        self.data_dir = data_dir
        self.began = time.perf_counter()
        with open(log, "ab") as out:
            self.process = subprocess.Popen(
                [*UP, "--data-dir", str(data_dir), "--port-offset", str(offset)],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=clean_env(),
            )

    def wait_ready(self) -> tuple[float, statefile.RunnerState]:
        """Seconds from spawn to all-ready, and the state file at that moment."""
        deadline = time.perf_counter() + START_DEADLINE
        while time.perf_counter() < deadline:
            if self.process.poll() is not None:
                raise BenchError(f"mercato up exited with {self.process.returncode}")
            with contextlib.suppress(statefile.StateFileError):
                state = statefile.read(self.data_dir)
                if state and state.pid == self.process.pid and state.state == "running":
                    return time.perf_counter() - self.began, state
            time.sleep(0.02)
        raise BenchError("the platform was not ready in time")

    def stop(self) -> float:
        """SIGTERM; seconds until the runner (and so everything it started) has exited."""
        began = time.perf_counter()
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(120)
        return time.perf_counter() - began

    def kill(self) -> None:
        """Ends the runner if it still runs (Ctrl-C of the benchmark)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(120)
            except subprocess.TimeoutExpired:
                self.process.kill()


def memory_of(pid: int | None) -> tuple[float, float]:
    """RSS and USS in MiB of ``pid`` plus its descendants (PostgreSQL's backends)."""
    if pid is None:
        return float("nan"), float("nan")
    try:
        root = psutil.Process(pid)
        family = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return float("nan"), float("nan")
    rss = uss = 0
    for process in family:
        with contextlib.suppress(psutil.Error):
            info = process.memory_full_info()
            rss += info.rss
            uss += info.uss
    return rss / 2**20, uss / 2**20


def run(args: argparse.Namespace) -> int:
    cold: list[float] = []
    warm: list[float] = []
    runner_cold: list[float] = []
    runner_warm: list[float] = []
    stops: list[float] = []
    memory: dict[str, list[tuple[float, float]]] = {}
    for round_no in range(1, args.runs + 1):
        workdir = Path(tempfile.mkdtemp(prefix="mercato-bench-up-", dir="/tmp"))
        data_dir = workdir / "data"
        log = workdir / "up.log"
        up: Up | None = None
        try:
            for kind, series, reported in (
                ("cold", cold, runner_cold),
                ("warm", warm, runner_warm),
            ):
                up = Up(data_dir, free_offset(round_no), log)
                seconds, state = up.wait_ready()
                series.append(seconds)
                reported.append(state.ready_seconds or float("nan"))
                progress(f"round {round_no}: {kind} start {seconds:.2f}s")
                if kind == "warm":
                    time.sleep(args.settle)
                    for service in state.services:
                        memory.setdefault(service.name, []).append(memory_of(service.pid))
                    for engine in state.engines:
                        memory.setdefault(engine.name, []).append(memory_of(engine.pid))
                stops.append(up.stop())
                up = None
        finally:
            if up is not None:
                up.kill()
            if not args.keep:
                shutil.rmtree(workdir, ignore_errors=True)

    def row(label: str, values: list[float]) -> list[Any]:
        return [label, statistics.median(values), min(values), max(values), len(values)]

    print(f"\n`mercato up` to all-ready, {args.runs} rounds (seconds)\n")
    print_table(
        ["start", "median", "min", "max", "runs"],
        [
            row("cold (fresh data dir), wall", cold),
            row("cold, as the runner reports it", runner_cold),
            row("warm (same data dir), wall", warm),
            row("warm, as the runner reports it", runner_warm),
            row("SIGTERM to everything stopped", stops),
        ],
    )
    print(f"\nIdle memory {args.settle:.0f} s after a warm start (MiB, median of the rounds)\n")
    rows = []
    for name, samples in memory.items():
        rows.append(
            [
                name,
                statistics.median(s[0] for s in samples),
                statistics.median(s[1] for s in samples),
            ]
        )
    print_table(["process", "RSS", "USS"], rows)
    if args.json:
        path = save_results(
            "runner_startup",
            {
                "machine": machine_state(),
                "runs": args.runs,
                "settle_seconds": args.settle,
                "cold_seconds": cold,
                "warm_seconds": warm,
                "runner_cold_seconds": runner_cold,
                "runner_warm_seconds": runner_warm,
                "stop_seconds": stops,
                "memory_mib": {k: [list(s) for s in v] for k, v in memory.items()},
            },
        )
        progress(f"results written to {path}")
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="rounds of cold + warm starts")
    parser.add_argument("--settle", type=float, default=10.0, help="idle seconds before RSS")
    parser.add_argument("--json", action="store_true", help="also write bench/results/*.json")
    parser.add_argument("--keep", action="store_true", help="keep the data dirs")
    args = parser.parse_args()
    main_guard(lambda: run(args))


if __name__ == "__main__":
    main()
