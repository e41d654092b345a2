"""``mercato load``: runs the shopper model headless on Locust, alone or as master/worker.

A local or master run spawns the shoppers, shows a live summary, stops by itself after the
run time (letting each shopper finish its task), then prints a table per request kind and
writes into its run directory Locust's CSV files (``locust_stats.csv``,
``locust_stats_history.csv``, ``locust_failures.csv``, ``locust_exceptions.csv``), its
HTML report (``report.html``), ``summary.json`` and ``customers.csv`` (the accounts the
run registered). Its exit status says whether the failure ratio stayed under the
threshold. A worker runs the shoppers the master hands it and writes nothing.

Importing this module imports Locust, which monkey-patches the process with gevent.
"""

from __future__ import annotations

import contextlib
import csv
import logging
import signal
import time
from argparse import Namespace
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import gevent
from locust import argument_parser
from locust.env import Environment
from locust.exception import RPCError
from locust.html import get_html_report
from locust.rpc import Message
from locust.runners import MasterRunner, Runner
from locust.stats import (
    PERCENTILES_TO_REPORT,
    StatsCSV,
    StatsCSVFileWriter,
    StatsEntry,
    stats_history,
)
from locust.util.timespan import parse_timespan
from rich.console import Console
from rich.live import Live

from mercato.load import report, shopper
from mercato.load.ledger import Ledger

Role = Literal["local", "master", "worker"]
STOP_GRACE_SECONDS = 10.0  # shoppers finish the task they are in before the run ends
LIVE_REFRESH_SECONDS = 1.0
LINE_INTERVAL_SECONDS = 10.0  # the live summary as a line, when output is not a terminal
CSV_PREFIX = "locust"

log = logging.getLogger("mercato.load")


@dataclass(frozen=True)
class LoadOptions:
    """What ``mercato load`` was asked to do."""

    host: str
    users: int
    spawn_rate: float
    run_time_s: float
    run_dir: Path | None  # None on a worker
    max_failure_ratio: float = 0.01
    wait_min: float = 1.0
    wait_max: float = 10.0
    spare_skus: tuple[str, ...] = ()
    role: Role = "local"
    master_host: str = "127.0.0.1"
    master_port: int = 5557
    master_bind_host: str = "*"
    expect_workers: int = 1
    expect_workers_timeout: float = 120.0


def parse_run_time(text: str) -> float:
    """Seconds in a run time such as ``90``, ``90s``, ``2m`` or ``1h30m``."""
    seconds = parse_timespan(text)
    if seconds <= 0:
        raise ValueError(f"the run time must be positive, not {text!r}")
    return float(seconds)


def new_run_dir(data_dir: Path) -> Path:
    """A fresh ``<data-dir>/load/<UTC timestamp>/``."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    for attempt in range(100):
        candidate = data_dir / "load" / (stamp if attempt == 0 else f"{stamp}-{attempt}")
        with contextlib.suppress(FileExistsError):
            candidate.mkdir(parents=True)
            return candidate
    raise FileExistsError(f"no free run directory under {data_dir / 'load'}")


def run_load(options: LoadOptions, console: Console) -> int:
    """Runs the load as ``options`` say; the process's exit status."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    environment = Environment(
        user_classes=[shopper.Shopper],
        host=options.host,
        stop_timeout=STOP_GRACE_SECONDS,
        parsed_options=_parsed_options(options),
        locustfile=shopper.__name__,
    )
    if options.role == "worker":
        return _work(environment, options, console)
    runner: Runner
    if options.role == "master":
        try:
            runner = environment.create_master_runner(options.master_bind_host, options.master_port)
        except RPCError as exc:
            console.print(f"cannot listen for workers: {exc}", style="bold red")
            return 1
    else:
        runner = environment.create_local_runner()
    ledger = Ledger()

    def record(environment: Environment, msg: Message, **_: Any) -> None:
        ledger.record(msg.data)

    runner.register_message(shopper.LEDGER_MESSAGE, record)
    if isinstance(runner, MasterRunner):
        try:
            joined = _workers_joined(runner, options, console)
        except KeyboardInterrupt:
            joined = False
        if not joined:
            runner.quit()
            return 1
    assert options.run_dir is not None
    return _drive(environment, runner, ledger, options, options.run_dir, console)


def _parsed_options(options: LoadOptions) -> Namespace:
    """Locust's default options plus the shoppers' settings (sent on to the workers)."""
    parser = argument_parser.get_empty_argument_parser()
    argument_parser.setup_parser_arguments(parser)  # type: ignore[no-untyped-call]  # unannotated in Locust
    parsed: Namespace = parser.parse_args(args=[])
    parsed.headless = True
    parsed.host = options.host
    setattr(parsed, shopper.WAIT_MIN, options.wait_min)
    setattr(parsed, shopper.WAIT_MAX, options.wait_max)
    setattr(parsed, shopper.SPARE_SKUS, list(options.spare_skus))
    return parsed


def _work(environment: Environment, options: LoadOptions, console: Console) -> int:
    """A worker: runs the shoppers its master hands it until the master ends the run."""
    where = f"{options.master_host}:{options.master_port}"
    try:
        runner = environment.create_worker_runner(options.master_host, options.master_port)
    except OSError as exc:
        console.print(f"cannot reach the Locust master at {where}: {exc}", style="bold red")
        return 1
    console.print(f"worker of the Locust master at {where}; the master ends the run")
    with _stop_on(signal.SIGTERM, runner.quit):
        try:
            runner.greenlet.join()
        except KeyboardInterrupt:
            runner.quit()
    return 0


def _workers_joined(runner: MasterRunner, options: LoadOptions, console: Console) -> bool:
    """Waits for ``expect_workers`` workers; False when they do not come in time."""
    deadline = time.monotonic() + options.expect_workers_timeout
    console.print(
        f"Locust master on port {options.master_port}: waiting for "
        f"{options.expect_workers} worker(s)"
    )
    while len(runner.clients.ready) < options.expect_workers:
        if time.monotonic() > deadline:
            console.print(
                f"only {len(runner.clients.ready)} of {options.expect_workers} workers joined "
                f"within {options.expect_workers_timeout:.0f}s",
                style="bold red",
            )
            return False
        gevent.sleep(0.5)
    return True


def _workers_settled(runner: MasterRunner, workers: int) -> None:
    """Waits for the ``workers`` stopped workers to report ready again (after their stop
    timeout) before the master tells them to quit.

    A stopped worker leaves the master's list, sleeps its stop timeout, then says "ready":
    had the master exited meanwhile, that send would block the worker for good, its quit
    never read. By then their periodic reports have brought in every last request.
    """
    deadline = time.monotonic() + STOP_GRACE_SECONDS + 10.0
    while len(runner.clients.ready) < workers and time.monotonic() < deadline:
        gevent.sleep(0.5)


def _drive(
    environment: Environment,
    runner: Runner,
    ledger: Ledger,
    options: LoadOptions,
    run_dir: Path,
    console: Console,
) -> int:
    """Spawns the shoppers, shows the run live, stops it, writes and prints the report."""
    prefix = str(run_dir / CSV_PREFIX)
    csv_writer = StatsCSVFileWriter(environment, PERCENTILES_TO_REPORT, prefix, full_history=True)
    background = [gevent.spawn(csv_writer.stats_writer), gevent.spawn(stats_history, runner)]
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    console.print(
        f"{options.users} shoppers (+{options.spawn_rate:g}/s) on {options.host} for "
        f"{options.run_time_s:.0f}s; report in {run_dir}"
    )
    runner.start(options.users, options.spawn_rate)
    stopping: list[str] = []
    with _stop_on(signal.SIGTERM, lambda: stopping.append("SIGTERM")):
        try:
            _watch(runner, options, console, stopping)
        except KeyboardInterrupt:
            stopping.append("Ctrl-C")
    if stopping:
        console.print(f"stopped early ({stopping[0]})", style="yellow")
    workers = len(runner.clients.all) if isinstance(runner, MasterRunner) else 0
    runner.stop()
    if isinstance(runner, MasterRunner):
        _workers_settled(runner, workers)
    summary = _summary(runner, ledger, options, started_at)
    runner.quit()
    gevent.killall(background)
    csv_writer.close_files()
    _write_files(environment, summary, ledger, prefix, run_dir)
    console.print(report.final_table(summary.kinds, summary.total))
    console.print(report.checkout_line(summary.checkouts))
    console.print(f"customers registered: {summary.customers}")
    console.print(f"report: {run_dir / 'report.html'}  CSV: {prefix}_stats.csv")
    console.print(report.verdict_text(summary.verdict))
    return 0 if summary.verdict.passed else 1


def _watch(runner: Runner, options: LoadOptions, console: Console, stopping: list[str]) -> None:
    """Shows the live summary until the run time is up or someone asks to stop."""
    started = time.monotonic()

    def progress() -> report.Progress:
        return report.Progress(
            elapsed_s=time.monotonic() - started,
            run_time_s=options.run_time_s,
            users=runner.user_count,
            total=_figures(runner.stats.total, "total", current=True),
        )

    def running() -> bool:
        return not stopping and time.monotonic() - started < options.run_time_s

    if console.is_terminal:
        with Live(report.live_summary(progress()), console=console, auto_refresh=False) as live:
            while running():
                gevent.sleep(LIVE_REFRESH_SECONDS)
                live.update(report.live_summary(progress()), refresh=True)
        return
    last_line = started
    while running():
        gevent.sleep(LIVE_REFRESH_SECONDS)
        if time.monotonic() - last_line >= LINE_INTERVAL_SECONDS:
            console.print(report.progress_line(progress()))
            last_line = time.monotonic()


def _figures(entry: StatsEntry, kind: str, *, current: bool = False) -> report.KindFigures:
    """A Locust statistics entry as the report's figures (NaN percentiles before answers)."""

    def percentile(q: float) -> float:
        return float(entry.get_response_time_percentile(q)) if entry.num_requests else float("nan")

    p50, p95, p99 = (percentile(q) for q in report.PERCENTILES)
    return report.KindFigures(
        kind=kind,
        requests=entry.num_requests,
        failures=entry.num_failures,
        per_second=float(entry.current_rps if current else entry.total_rps),
        p50_ms=p50,
        p95_ms=p95,
        p99_ms=p99,
    )


def _summary(
    runner: Runner, ledger: Ledger, options: LoadOptions, started_at: str
) -> report.LoadSummary:
    stats = runner.stats
    kinds = [_figures(e, f"{e.method} {e.name}") for e in stats.entries.values()]
    total = _figures(stats.total, "total")
    exceptions = sum(int(row["count"]) for row in runner.exceptions.values())
    return report.LoadSummary(
        host=options.host,
        users=options.users,
        spawn_rate=options.spawn_rate,
        run_time_s=options.run_time_s,
        kinds=report.by_kind(kinds),
        total=total,
        verdict=report.Verdict(
            requests=total.requests,
            failures=total.failures,
            max_failure_ratio=options.max_failure_ratio,
            exceptions=exceptions,
        ),
        checkouts=dict(ledger.checkouts),
        checkouts_sent=ledger.checkouts_sent,
        customers=len(ledger.customers),
        started_at=started_at,
    )


def _write_files(
    environment: Environment,
    summary: report.LoadSummary,
    ledger: Ledger,
    prefix: str,
    run_dir: Path,
) -> None:
    """The final CSV statistics (over the writer's last snapshot), HTML, summary, customers."""
    final = StatsCSV(environment, PERCENTILES_TO_REPORT)
    tables: dict[str, Callable[[Any], None]] = {
        "_stats.csv": final.requests_csv,
        "_failures.csv": final.failures_csv,
        "_exceptions.csv": final.exceptions_csv,
    }
    for suffix, write in tables.items():
        with open(prefix + suffix, "w", newline="") as file:
            write(csv.writer(file))
    html = get_html_report(environment, show_download_link=False)  # type: ignore[no-untyped-call]
    (run_dir / "report.html").write_text(html)
    (run_dir / "summary.json").write_text(summary.to_json())
    with open(run_dir / "customers.csv", "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=["email", "id"])
        writer.writeheader()
        writer.writerows(ledger.customers)


@contextlib.contextmanager
def _stop_on(signum: int, handler: Callable[[], object]) -> Iterator[None]:
    """Runs ``handler`` (in the gevent loop) when ``signum`` arrives, inside the block."""
    watcher = gevent.signal_handler(signum, handler)
    try:
        yield
    finally:
        watcher.cancel()
