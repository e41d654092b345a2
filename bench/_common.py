"""Helpers shared by the benchmarks: child processes, ports, wrk, nginx, tables, results.

The benchmarks are run by hand (never by pytest). Every process they start is a child
that dies with the benchmark (``PR_SET_PDEATHSIG``) and is stopped, with its process
group, when the benchmark ends, Ctrl-C included.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from mercato.runner.engines import free_port as free_port  # re-exported for the scripts
from mercato.runner.processes import popen_child

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
PYTHON = sys.executable

DEBIAN_TOOLS = "apt-get update && apt-get install -y wrk nginx-light"


class BenchError(RuntimeError):
    """The benchmark cannot run (a missing tool, a server that did not come up)."""


def require(tool: str, hint: str = DEBIAN_TOOLS) -> str:
    """The path of ``tool``, or a clear error telling how to install it."""
    for candidate in (shutil.which(tool), f"/usr/sbin/{tool}", f"/usr/bin/{tool}"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise BenchError(f"{tool} is not installed; install it with: {hint}")


def stop_on_sigterm() -> None:
    """SIGTERM becomes SystemExit and SIGINT KeyboardInterrupt, so ``with`` blocks clean up."""

    def _exit(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, _exit)
    # A shell without job control starts background commands with SIGINT ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)


# -- processes ------------------------------------------------------------------------


@dataclass
class Child:
    """A process the benchmark started."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    stop_signal: int = signal.SIGTERM

    @property
    def pid(self) -> int:
        """The process id."""
        return self.process.pid

    def rss_mib(self) -> float:
        """Resident memory of the process and its children (granian's worker, nginx's)."""
        try:
            root = psutil.Process(self.pid)
            tree = [root, *root.children(recursive=True)]
            return sum(p.memory_info().rss for p in tree) / 2**20
        except psutil.NoSuchProcess:
            return float("nan")

    def cpu_seconds(self) -> float:
        """CPU time used so far by the process and its children, exited ones included.

        PostgreSQL's backends come and go: an exited child's time moves to its parent's
        ``children_*`` counters, so those are added for every process of the tree.
        """
        try:
            root = psutil.Process(self.pid)
            tree = [root, *root.children(recursive=True)]
            return sum(sum(p.cpu_times()[:4]) for p in tree)
        except psutil.NoSuchProcess:
            return float("nan")

    def answers(self) -> Counter[int]:
        """HTTP statuses the service answered, from the chassis's JSON access log."""
        counts: Counter[int] = Counter()
        with contextlib.suppress(OSError), self.log_path.open(errors="replace") as log:
            for line in log:
                if '"mercato.access"' not in line:
                    continue
                with contextlib.suppress(ValueError):
                    counts[int(json.loads(line)["status"])] += 1
        return counts

    def errors_logged(self, limit: int = 3) -> list[str]:
        """The first few error messages in the service's JSON log."""
        found: list[str] = []
        with contextlib.suppress(OSError), self.log_path.open(errors="replace") as log:
            for line in log:
                if '"level": "error"' in line or '"level":"error"' in line:
                    with contextlib.suppress(ValueError):
                        entry = json.loads(line)
                        found.append(f"{entry.get('logger')}: {entry.get('message')}")
                if len(found) >= limit:
                    break
        return found

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of the process's log."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


class Processes(contextlib.AbstractContextManager["Processes"]):
    """Starts children in a scratch directory; stops them all, and removes it, on exit."""

    def __init__(self, prefix: str = "mercato-bench-") -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix=prefix))
        # Open to other users: as root, PostgreSQL runs as one and keeps its home in here.
        self.workdir.chmod(0o755)
        self.children: list[Child] = []

    def start(
        self,
        name: str,
        command: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> Child:
        """Starts ``command`` with its output in ``<workdir>/logs/<name>.log``."""
        full_env = {**os.environ, **(env or {})}
        log_path = self.workdir / "logs" / f"{name}.log"
        process = popen_child(list(command), log_path=log_path, env=full_env, cwd=cwd)
        child = Child(name, process, log_path)
        self.children.append(child)
        return child

    def stop(self, child: Child, timeout: float = 10.0) -> None:
        """Stops one child gracefully, then kills its process group after ``timeout``."""
        if child in self.children:
            self.children.remove(child)
        if child.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                child.process.send_signal(child.stop_signal)
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.process.wait(timeout)
        # Workers of a server (granian, nginx) may outlive a master that already exited.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.process.wait(5)

    def close(self) -> None:
        """Stops every child, the last started first, and removes the scratch directory."""
        while self.children:
            self.stop(self.children[-1])
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __exit__(self, *exc: object) -> None:
        # A second Ctrl-C while cleaning up must not leave children behind.
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            self.close()
        finally:
            signal.signal(signal.SIGINT, previous)


def wait_http(url: str, child: Child | None = None, timeout: float = 60.0) -> None:
    """Blocks until ``url`` answers 2xx; raises if ``child`` exits or time runs out."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if child is not None and child.process.poll() is not None:
            raise BenchError(
                f"{child.name} exited with status {child.process.returncode}:\n{child.log_tail()}"
            )
        try:
            with urllib.request.urlopen(url, timeout=1.0) as response:  # noqa: S310 (loopback)
                if 200 <= response.status < 300:
                    return
                last = f"status {response.status}"
        except urllib.error.HTTPError as exc:
            last = f"status {exc.code}"
        except (OSError, ValueError) as exc:
            last = str(exc)
        time.sleep(0.1)
    tail = f":\n{child.log_tail()}" if child is not None else ""
    raise BenchError(f"{url} did not answer 2xx within {timeout:.0f}s ({last}){tail}")


def uvicorn_command(target: str, port: int, *, factory: bool = False) -> list[str]:
    """uvicorn as the chassis runs it: uvloop, httptools, no access log or proxy headers."""
    command = [PYTHON, "-m", "uvicorn", target, "--host", "127.0.0.1", "--port", str(port)]
    command += ["--loop", "uvloop", "--http", "httptools", "--no-access-log", "--no-proxy-headers"]
    command += ["--log-level", "warning", "--app-dir", str(BENCH_DIR)]
    return command + (["--factory"] if factory else [])


# -- nginx ----------------------------------------------------------------------------

NGINX_CONF = """\
# A plain reverse proxy: one worker (like the one-process Python proxies), keep-alive
# connections to the upstream, no access log.
daemon off;
master_process on;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    upstream backend {{
        server 127.0.0.1:{upstream_port};
        keepalive 64;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        }}
    }}
}}
"""


def start_nginx(processes: Processes, *, upstream_port: int, port: int) -> Child:
    """nginx in the foreground as a reverse proxy to ``upstream_port``, files in a temp dir."""
    binary = require("nginx")
    prefix = processes.workdir / "nginx"
    prefix.mkdir(parents=True, exist_ok=True)
    config = prefix / "nginx.conf"
    config.write_text(NGINX_CONF.format(prefix=prefix, upstream_port=upstream_port, port=port))
    return processes.start(
        "nginx", [binary, "-p", str(prefix), "-c", str(config), "-e", str(prefix / "error.log")]
    )


# -- wrk ------------------------------------------------------------------------------


@dataclass
class WrkResult:
    """One wrk run: throughput, latency percentiles (ms), failures, load around it."""

    requests_per_second: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    non_2xx: int
    load_before: float
    load_after: float
    cpu_seconds: dict[str, float] = field(default_factory=dict)

    def cpu_us_per_request(self, name: str) -> float:
        """CPU microseconds process ``name`` spent per request during the run."""
        return self.cpu_seconds[name] / max(1, self.requests) * 1e6

    @property
    def clean(self) -> bool:
        """No socket error and no non-2xx answer."""
        return self.errors == 0 and self.non_2xx == 0


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(value: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value)
    if match is None:
        raise ValueError(f"unexpected wrk duration {value!r}")
    return float(match.group(1)) * _UNITS_MS[match.group(2)]


def parse_wrk(output: str) -> tuple[float, float, float, int, int, int]:
    """req/s, p50 ms, p99 ms, requests, socket errors and non-2xx from ``wrk --latency``."""
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    p50 = re.search(r"^\s+50%\s+(\S+)", output, re.MULTILINE)
    p99 = re.search(r"^\s+99%\s+(\S+)", output, re.MULTILINE)
    count = re.search(r"(\d+) requests in", output)
    if not (rps and p50 and p99 and count):
        raise BenchError(f"could not read wrk's output:\n{output}")
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return (
        float(rps.group(1)),
        _ms(p50.group(1)),
        _ms(p99.group(1)),
        int(count.group(1)),
        sum(int(g) for g in errors.groups()) if errors else 0,
        int(non_2xx.group(1)) if non_2xx else 0,
    )


def run_wrk(
    url: str,
    *,
    connections: int,
    duration: float,
    threads: int = 1,
    script: Path | None = None,
    timeout: float = 5.0,
    watch: Sequence[Child] = (),
) -> WrkResult:
    """Loads ``url`` with wrk; also measures the CPU time the ``watch``ed processes use.

    CPU time per request is the figure a busy shared machine disturbs least: another
    engineer's tests slow a server down, but hardly change the work it does per request.
    """
    command = [require("wrk"), f"-t{threads}", f"-c{connections}", f"-d{duration:g}s"]
    command += ["--latency", f"--timeout={timeout:g}s"]
    if script is not None:
        command += ["-s", str(script)]
    load_before = os.getloadavg()[0]
    cpu_before = {child.name: child.cpu_seconds() for child in watch}
    done = subprocess.run(
        [*command, url], capture_output=True, text=True, check=False, timeout=duration + 60
    )
    if done.returncode != 0:
        raise BenchError(f"wrk failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    cpu = {child.name: child.cpu_seconds() - cpu_before[child.name] for child in watch}
    rps, p50, p99, count, errors, non_2xx = parse_wrk(done.stdout)
    return WrkResult(rps, p50, p99, count, errors, non_2xx, load_before, os.getloadavg()[0], cpu)


# -- rounds, medians, tables, results ---------------------------------------------------


@dataclass
class Series:
    """Every run of one variant, for medians."""

    runs: list[WrkResult] = field(default_factory=list)

    def median(self, attribute: str) -> float:
        """The median of one WrkResult attribute over the runs."""
        return statistics.median(getattr(run, attribute) for run in self.runs)

    def median_cpu_us(self, name: str) -> float:
        """The median CPU microseconds per request of process ``name``."""
        return statistics.median(run.cpu_us_per_request(name) for run in self.runs)

    @property
    def failures(self) -> int:
        """Socket errors plus non-2xx answers over every run."""
        return sum(run.errors + run.non_2xx for run in self.runs)


def interleaved(variants: Sequence[str], rounds: int) -> Iterator[tuple[int, str]]:
    """(round, variant) pairs: each round runs every variant, the order rotating each round.

    Running A B C, B C A, C A B ... spreads the slow drift of a shared machine's load
    over every variant instead of loading it onto whichever runs last.
    """
    for round_no in range(rounds):
        shift = round_no % len(variants)
        for variant in [*variants[shift:], *variants[:shift]]:
            yield round_no + 1, variant


def machine_state() -> dict[str, Any]:
    """CPU count, load average and versions, to quote beside the figures."""
    uptime = subprocess.run(["uptime"], capture_output=True, text=True, check=False)
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "uptime": uptime.stdout.strip(),
        "python": sys.version.split()[0],
    }


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Prints a Markdown table (ready to paste into docs/BENCHMARKS.md)."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in cells:
        print("| " + " | ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) + " |")


def _cell(value: Any) -> str:
    if isinstance(value, float):
        if value != value:  # NaN
            return "-"
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.2f}"
    return str(value)


def write_results(name: str, payload: dict[str, Any]) -> Path:
    """Writes ``payload`` as JSON to bench/results/<name>-<timestamp>.json."""
    RESULTS_DIR.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS_DIR / f"{name}-{stamp}.json"
    path.write_text(json.dumps(payload, indent=2, default=_jsonable))
    return path


def _jsonable(value: Any) -> Any:
    if isinstance(value, WrkResult | Series):
        return asdict(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def progress(message: str) -> None:
    """One line of progress on stderr (the table goes to stdout)."""
    print(message, file=sys.stderr, flush=True)


def main_guard(run: Callable[[], int]) -> None:
    """Runs a benchmark's main: clean exit codes for a missing tool and for Ctrl-C."""
    stop_on_sigterm()
    try:
        sys.exit(run())
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted; every started process was stopped", file=sys.stderr)
        sys.exit(130)
