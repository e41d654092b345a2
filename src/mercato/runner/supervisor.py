"""``mercato up``: start the engines and services, supervise them, stop them all.

One asyncio loop on the main thread drives everything. Children are spawned only from
coroutines of that loop, so they are spawned by the main thread and their
``PR_SET_PDEATHSIG`` stays armed for the runner's whole life; blocking work (initdb,
migrations, readiness commands, waiting for engines to stop) goes to worker threads,
which never spawn anything long-lived.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
from rich.console import Console
from rich.live import Live
from rich.text import Text

from mercato import catalog
from mercato.runner import display, plan, probes
from mercato.runner import state as statefile
from mercato.runner.engines import (
    Engine,
    EngineError,
    EnginePorts,
    Postgres,
    engines_for,
    port_is_open,
    postgres_home,
)
from mercato.runner.processes import popen_child
from mercato.runner.secrets import load_or_create

SERVICE_STOP_TIMEOUT = 25.0  # the chassis drains for 20 s (graceful_timeout_seconds)
ENGINE_READY_TIMEOUT = 120.0
# An embedded engine that dies is started again, with the services' backoff; after this
# many failures in a row (deaths within plan.STABLE_AFTER_SECONDS of a start, or starts
# that fail) the platform stops: the engine cannot run here (docs/adr/0041).
ENGINE_FAILURES_IN_A_ROW = 5
TICK_SECONDS = 0.25
# While a service is let go and not ready yet: a refused connection costs next to nothing,
# and every tick saved is a tick less before the platform is ready.
STARTING_TICK_SECONDS = 0.05
LOG_POLL_SECONDS = 0.1

Hook = Callable[["Runner"], Awaitable[None]]


class RunnerError(RuntimeError):
    """The platform cannot start or keep running; the message says why."""


@dataclass
class RunOptions:
    """Everything ``mercato up`` was asked for."""

    data_dir: Path
    gateway_port: int = catalog.CONTAINER_PORT
    port_offset: int = 0
    services: list[str] | None = None
    log_level: str = "info"
    ready_timeout: float = 180.0
    # Run once every service is ready, in order (room for --seed, --monitoring...).
    hooks: list[Hook] = field(default_factory=list)
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))


@dataclass
class ManagedService:
    """A service process and its supervision record."""

    name: str
    port: int
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    state: str = "pending"
    restarts: int = 0
    failures: int = 0  # crashes in a row, for the backoff
    started_at: float = 0.0
    retry_at: float = 0.0
    # False while the first process waits at its start gate (its database may not be
    # migrated yet): until then a crash is not restarted, the release starts it again.
    released: bool = False

    @property
    def url(self) -> str:
        """Where the service answers."""
        return f"http://{plan.HOST}:{self.port}"

    @property
    def pid_text(self) -> str:
        """The process id, for messages."""
        return str(self.process.pid) if self.process is not None else "-"


@dataclass
class ManagedEngine:
    """An engine (or an extra process started by a hook) and its process."""

    name: str
    url: str
    log_path: Path
    engine: Engine | None = None  # None: external, or an extra process
    process: subprocess.Popen[bytes] | None = None
    state: str = "pending"
    external: bool = False
    essential: bool = True  # its death stops the platform
    port: int | None = None
    stop_signal: int = signal.SIGTERM
    stop_timeout: float = 10.0
    restarts: int = 0
    failures: int = 0  # deaths in a row, for the backoff and the crash-loop limit
    started_at: float = 0.0


class Runner:
    """One run of the platform in the foreground."""

    def __init__(self, options: RunOptions, console: Console | None = None) -> None:
        self.options = options
        self.console = console or display.make_console()
        self.data_dir = options.data_dir.resolve()
        self.logs_dir = self.data_dir / "logs"
        self.engines: dict[str, ManagedEngine] = {}
        self.services: dict[str, ManagedService] = {}
        self.endpoints = plan.Endpoints()
        self.secrets: dict[str, str] = {}
        self._view = display.StartupView()
        self._tails: list[display.LogTail] = []
        self._engine_tasks: dict[str, asyncio.Task[None]] = {}
        # Engines' leftover set-up (PostgreSQL's fsync after initdb): migrations may run
        # before it ends, a service is let go only after it (its data must be durable).
        self._after_ready: dict[str, asyncio.Task[None]] = {}
        self._engine_restarts: dict[str, asyncio.Task[None]] = {}
        self._preloaded: asyncio.Task[None] | None = None
        # database -> "created", "at head" or "behind", found for all of them at once
        self._databases: asyncio.Task[dict[str, str]] | None = None
        self._ports: dict[str, int] = {}
        self._main: asyncio.Task[int] | None = None
        self._signals = 0
        self._stopping = False
        self._began = time.monotonic()
        self._started_at = datetime.now(UTC).isoformat(timespec="seconds")
        self._ready_seconds: float | None = None
        self._last_state = ""
        self._owns_state = False
        self._process_started = statefile.process_started(os.getpid())

    # -- entry point --------------------------------------------------------

    async def run(self) -> int:
        """Starts the platform, supervises it until a signal, stops it; the exit status."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._on_signal, sig)
        self._main = asyncio.create_task(self._start_and_supervise())
        code = 0
        try:
            code = await self._main
        except asyncio.CancelledError:
            code = 0
        except (RunnerError, plan.PlanError, EngineError) as exc:
            self.say(str(exc), style="bold red")
            code = 1
        finally:
            await self._shutdown()
        return code

    # -- start-up -----------------------------------------------------------

    async def _start_and_supervise(self) -> int:
        self._preflight()
        self._owns_state = True
        self._save_state()
        tails = asyncio.create_task(self._follow_logs())
        supervise = asyncio.create_task(self._supervise())
        start = asyncio.create_task(self._start())
        try:
            live = Live(self._view, console=self.console, refresh_per_second=8, transient=True)
            with live if self.console.is_terminal else contextlib.nullcontext():
                await asyncio.wait({start, supervise}, return_when=asyncio.FIRST_COMPLETED)
                if supervise.done():
                    start.cancel()
                    await asyncio.gather(start, return_exceptions=True)
                    return supervise.result()
                start.result()
            self._ready_seconds = time.monotonic() - self._began
            self._save_state()
            self.console.print(
                display.summary(
                    self._snapshot(), data_dir=self.data_dir, elapsed=self._ready_seconds
                )
            )
            for hook in self.options.hooks:
                await hook(self)
            return await supervise
        finally:
            for task in (start, supervise, tails):
                task.cancel()
            await asyncio.gather(start, supervise, tails, return_exceptions=True)

    def _preflight(self) -> None:
        """Checks the data dir and ports, and decides what to start, before starting anything."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            previous = statefile.read(self.data_dir)
        except statefile.StateFileError:
            previous = None
        if previous is not None:
            if statefile.runner_alive(previous):
                raise RunnerError(
                    f"Mercato already runs from {self.data_dir} (runner pid {previous.pid}): "
                    "stop it first, or use another --data-dir"
                )
            self.say(f"removing the state file of a runner that is gone (pid {previous.pid})")
            statefile.remove(self.data_dir)

        selected = plan.select_services(self.options.services)
        offset = self.options.port_offset
        ports = plan.service_ports(offset=offset, gateway_port=self.options.gateway_port)
        external = plan.external_endpoints(self.options.environ)
        self.secrets = load_or_create(self.data_dir)
        launchers = engines_for(
            self.data_dir,
            EnginePorts().shifted(offset),
            self.secrets,
            postgres_home=postgres_home(self.options.environ),
        )

        for name in plan.engines_needed(selected):
            log_path = self.logs_dir / f"{name}.log"
            url = external.address(name)
            if url is not None:
                self.engines[name] = ManagedEngine(
                    name, plan.mask_password(url), log_path, state="external", external=True
                )
                self.say(f"{name}: using the external server at {self.engines[name].url}")
            elif name in launchers:
                engine = launchers[name]
                self.engines[name] = ManagedEngine(
                    name,
                    plan.mask_password(engine.url),
                    log_path,
                    engine=engine,
                    port=engine.ports[0],
                    stop_signal=engine.stop_signal,
                    stop_timeout=engine.stop_timeout,
                )
            else:
                users = [s for s in selected if name in catalog.get(s).engines]
                self.say(
                    f"no launcher for engine {name!r} (needed by {', '.join(users)}); "
                    "those services start without it",
                    style="yellow",
                )

        def embedded(name: str) -> Engine | None:
            managed = self.engines.get(name)
            return managed.engine if managed is not None else None

        postgres, nats, s3 = embedded("postgres"), embedded("nats"), embedded("s3")
        sink = embedded("smtp")
        self.endpoints = plan.Endpoints(
            database_url=external.database_url or (postgres.url if postgres else None),
            nats_url=external.nats_url or (nats.url if nats else None),
            s3_endpoint=external.s3_endpoint or (s3.url if s3 else None),
            s3_access_key=external.s3_access_key or self.secrets["s3_access_key"],
            s3_secret_key=external.s3_secret_key or self.secrets["s3_secret_key"],
            smtp_host=external.smtp_host or (plan.HOST if sink else None),
            smtp_port=external.smtp_port or (sink.ports[0] if sink else None),
        )
        if isinstance(postgres, Postgres) and postgres.run_as() is not None:
            self.say(
                f"postgres runs as {postgres.run_as()}, from {postgres.home} "
                f"({postgres.data_dir.name}/ links to its cluster there)"
            )

        self._ports = ports
        for name in plan.start_order(selected):
            self.services[name] = ManagedService(name, ports[name], self.logs_dir / f"{name}.log")

        busy = [
            f"{port} ({owner})"
            for owner, wanted in [
                *((m.name, m.engine.ports) for m in self.engines.values() if m.engine),
                *((s.name, (s.port,)) for s in self.services.values()),
            ]
            for port in wanted
            if port_is_open(port)
        ]
        if busy:
            raise RunnerError(
                f"ports already in use: {', '.join(busy)}. Is another Mercato running? "
                "Stop it, or shift every port with --port-offset"
            )
        for managed in self.engines.values():
            self._view.set(managed.name, "engine", managed.state, managed.url)
        for service in self.services.values():
            self._view.set(service.name, "service", service.state, service.url)
        self._tails = [
            display.LogTail(m.name, m.log_path, routine=m.engine.is_routine)
            for m in self.engines.values()
            if m.engine
        ] + [display.LogTail(s.name, s.log_path) for s in self.services.values()]

    async def _start(self) -> None:
        """Engines and every service's imports at once; per service: database, migrations,
        then the go at its start gate; then wait for /ready."""
        for name, managed in self.engines.items():
            if managed.engine is not None:
                self._engine_tasks[name] = asyncio.create_task(self._start_engine(managed))
        preloaded = self._preloaded = asyncio.create_task(asyncio.to_thread(_preload))
        spawns: list[asyncio.Task[None]] = []
        try:
            # Every interpreter imports its code and builds its app while the engines start
            # and the databases migrate (seconds of CPU each), then waits at its gate.
            await preloaded
            for service in self.services.values():
                self._spawn(service, gated=True)
                self._mark_service(service, "loading", f"pid {service.pid_text}")
            self._databases = asyncio.create_task(self._prepare_databases())
            # Migrations run one after the other; each service is let go as soon as its
            # own database and engines are ready, without waiting for the others' engines.
            for service in self.services.values():
                await self._migrate(service)
                spawns.append(asyncio.create_task(self._spawn_when_ready(service)))
            await asyncio.gather(*spawns)
            await asyncio.gather(*self._engine_tasks.values())
            await asyncio.gather(*self._after_ready.values())
            await self._wait_all_ready()
        except BaseException:
            pending = [
                preloaded,
                *spawns,
                *self._engine_tasks.values(),
                *self._after_ready.values(),
            ]
            if self._databases is not None:
                pending.append(self._databases)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            raise

    async def _start_engine(self, managed: ManagedEngine) -> None:
        engine = managed.engine
        assert engine is not None
        self._mark_engine(managed, "preparing")
        began = time.monotonic()
        await asyncio.to_thread(engine.prepare)
        managed.process = engine.spawn(managed.log_path)
        managed.started_at = time.monotonic()
        self._mark_engine(managed, "starting", f"pid {managed.process.pid}")
        deadline = time.monotonic() + ENGINE_READY_TIMEOUT
        while not await asyncio.to_thread(engine.is_ready):
            if managed.process.poll() is not None:
                self._mark_engine(managed, "failed")
                raise RunnerError(
                    f"{managed.name} exited with status {managed.process.returncode} while "
                    f"starting; see {managed.log_path}"
                )
            if time.monotonic() > deadline:
                self._mark_engine(managed, "failed")
                raise RunnerError(
                    f"{managed.name} was not ready after {ENGINE_READY_TIMEOUT:.0f}s; "
                    f"see {managed.log_path}"
                )
            await asyncio.sleep(0.1)
        self._mark_engine(managed, "running", managed.url)
        self.say(f"{managed.name} is ready at {managed.url} ({time.monotonic() - began:.1f}s)")
        self._after_ready[managed.name] = asyncio.create_task(asyncio.to_thread(engine.after_ready))

    async def restart_engine(self, managed: ManagedEngine, code: int) -> None:
        """Starts a dead embedded engine again on its data and ports, with backoff.

        Raises RunnerError once it has failed ENGINE_FAILURES_IN_A_ROW times in a row.
        """
        # It ran long enough to count as stable: this death starts a new count. (Starts
        # that fail below never reset it, however long they took.)
        if time.monotonic() - managed.started_at >= plan.STABLE_AFTER_SECONDS:
            managed.failures = 0
        while True:
            managed.failures += 1
            if managed.failures >= ENGINE_FAILURES_IN_A_ROW:
                raise RunnerError(
                    f"{managed.name} failed {ENGINE_FAILURES_IN_A_ROW} times in a row: the "
                    f"platform cannot run without it; stopping everything "
                    f"(see {managed.log_path})"
                )
            delay = plan.backoff_delay(managed.failures)
            self._mark_engine(managed, "restarting", f"exit {code}")
            self.say(
                f"{managed.name} exited with status {code}; starting it again in {delay:.1f}s "
                f"(see {managed.log_path})",
                style="bold red",
            )
            await asyncio.sleep(delay)
            # A killed PostgreSQL leaves backends behind for a moment, holding its shared
            # memory: none may survive into the new server's start.
            _kill_group(managed.process)
            try:
                await self._start_engine(managed)
            except RunnerError as exc:
                self.say(str(exc), style="bold red")
                code = managed.process.returncode if managed.process else -1
                code = -1 if code is None else code
                continue
            managed.restarts += 1
            self.say(f"{managed.name} runs again (restart {managed.restarts})", style="yellow")
            return

    async def _engine_ready(self, name: str) -> None:
        task = self._engine_tasks.get(name)
        if task is not None:
            await asyncio.shield(task)

    async def _migrate(self, service: ManagedService) -> None:
        if self._preloaded is not None:
            await self._preloaded
        from mercato.platform import migrations
        from mercato.platform.db import with_database

        spec = catalog.get(service.name)
        if spec.database and spec.migrations:
            await self._engine_ready("postgres")
            server = self.endpoints.database_url
            if server is None:
                raise RunnerError(f"{service.name} needs PostgreSQL and none is configured")
            self._mark_service(service, "migrating", spec.database)
            began = time.monotonic()
            url = with_database(server, spec.database)
            assert self._databases is not None
            found = (await asyncio.shield(self._databases)).get(spec.database, "behind")
            created, at_head = found == "created", found == "at head"
            try:
                if not at_head:
                    # Alembic keeps its context in module globals: one migration at a time.
                    await asyncio.to_thread(migrations.upgrade, spec.migrations, url)
            except Exception as exc:
                raise RunnerError(
                    f"migrating {spec.database} for {service.name} failed: {exc}"
                ) from exc
            done = "is already at head" if at_head else "migrated"
            self.say(
                f"{'created and ' if created else ''}{spec.database} {done} "
                f"({time.monotonic() - began:.1f}s)"
            )

    async def _prepare_databases(self) -> dict[str, str]:
        """Creates every missing database and tells which are at head, all at once.

        Only the migrations themselves (Alembic, module globals) run one at a time.
        """
        from mercato.platform import migrations
        from mercato.platform.db import with_database

        wanted = [
            (name, spec.database, spec.migrations)
            for name in self.services
            if (spec := catalog.get(name)).database and spec.migrations
        ]
        server = self.endpoints.database_url
        if not wanted or server is None:
            return {}
        await self._engine_ready("postgres")

        async def prepare(name: str, database: str, tree: str) -> str:
            try:
                if await migrations.ensure_database(server, database):
                    return "created"
                return (
                    "at head" if await _at_head(tree, with_database(server, database)) else "behind"
                )
            except Exception as exc:
                raise RunnerError(f"preparing {database} for {name} failed: {exc}") from exc

        found = await asyncio.gather(*(prepare(name, db, tree) for name, db, tree in wanted))
        return {db: state for (_, db, _), state in zip(wanted, found, strict=True)}

    async def _spawn_when_ready(self, service: ManagedService) -> None:
        for engine in catalog.get(service.name).engines:
            await self._engine_ready(engine)
            if engine in self._after_ready:
                await asyncio.shield(self._after_ready[engine])
        service.released = True
        if not _open_gate(service.process):
            # It died at its gate (or never got one): start it the ordinary way.
            if service.process is not None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(service.process.pid, signal.SIGKILL)
            self._spawn(service)
        service.started_at = time.monotonic()
        self._mark_service(service, "starting", f"pid {service.pid_text}")

    def _spawn(self, service: ManagedService, *, gated: bool = False) -> None:
        """Starts the service process (on the main thread: see the module docstring).

        ``gated``: it imports and builds its app, then waits for :func:`_open_gate`.
        """
        if not service.env:
            service.env = {
                **self.options.environ,
                **plan.service_env(
                    service.name,
                    ports=self._ports,
                    endpoints=self.endpoints,
                    secrets=self.secrets,
                    log_level=self.options.log_level,
                    running=self.services,
                ),
                "PYTHONUNBUFFERED": "1",
            }
        from mercato.platform.server import START_GATE

        env = {**service.env, START_GATE: "stdin"} if gated else service.env
        service.process = popen_child(
            [sys.executable, "-m", "mercato.platform.server", service.name],
            log_path=service.log_path,
            env=env,
            stdin=subprocess.PIPE if gated else subprocess.DEVNULL,
        )
        service.started_at = time.monotonic()

    async def _wait_all_ready(self) -> None:
        deadline = self._began + self.options.ready_timeout
        while any(s.state != "ready" for s in self.services.values()):
            if time.monotonic() > deadline:
                late = [s for s in self.services.values() if s.state != "ready"]
                raise RunnerError(
                    "not ready after {:.0f}s: {}".format(
                        self.options.ready_timeout,
                        ", ".join(f"{s.name} ({s.state}; see {s.log_path})" for s in late),
                    )
                )
            await asyncio.sleep(0.05)

    # -- supervision --------------------------------------------------------

    async def _supervise(self) -> int:
        """Restarts crashed services and engines with backoff; 1 when an engine cannot run."""
        try:
            async with probes.new_session() as session:
                while True:
                    if self._check_engines() is not None:
                        return 1
                    await self._check_services(session)
                    self._save_state()
                    starting = any(
                        s.state in ("starting", "restarting") for s in self.services.values()
                    )
                    await asyncio.sleep(STARTING_TICK_SECONDS if starting else TICK_SECONDS)
        finally:
            restarts = list(self._engine_restarts.values())
            for task in restarts:
                task.cancel()
            await asyncio.gather(*restarts, return_exceptions=True)

    def _check_engines(self) -> str | None:
        """Starts dead embedded engines again; the name of one that cannot run, if any."""
        for name, task in list(self._engine_restarts.items()):
            if task.done():
                del self._engine_restarts[name]
                failure = task.exception()
                if failure is not None:
                    self.say(str(failure), style="bold red")
                    return name
        for managed in self.engines.values():
            if managed.process is None or managed.state != "running":
                continue
            code = managed.process.poll()
            if code is None:
                continue
            if managed.engine is not None:
                self._engine_restarts[managed.name] = asyncio.create_task(
                    self.restart_engine(managed, code)
                )
                continue
            managed.state = "failed"
            self._save_state()
            if managed.essential:
                self.say(
                    f"{managed.name} exited with status {code}: the platform cannot "
                    f"run without it; stopping everything (see {managed.log_path})",
                    style="bold red",
                )
                return managed.name
            self.say(f"{managed.name} exited with status {code}", style="yellow")
        return None

    async def _check_services(self, session: aiohttp.ClientSession) -> None:
        now = time.monotonic()
        to_probe: list[ManagedService] = []
        for service in self.services.values():
            if service.process is None:
                if service.state == "crashed" and service.released and now >= service.retry_at:
                    self._spawn(service)
                    service.restarts += 1
                    self._mark_service(service, "restarting", f"pid {service.pid_text}")
                    self.say(
                        f"started {service.name} again (restart {service.restarts}, "
                        f"pid {service.pid_text})",
                        style="yellow",
                    )
                continue
            code = service.process.poll()
            if code is not None:
                if now - service.started_at >= plan.STABLE_AFTER_SECONDS:
                    service.failures = 0
                service.failures += 1
                delay = plan.backoff_delay(service.failures)
                service.retry_at = now + delay
                service.process = None
                self._mark_service(service, "crashed", f"exit {code}")
                again = (
                    f"starting it again in {delay:.1f}s"
                    if service.released
                    else "starting it again once its database and engines are ready"
                )
                self.say(
                    f"{service.name} exited with status {code}; {again} (see {service.log_path})",
                    style="bold red",
                )
            elif service.state in ("starting", "restarting"):
                to_probe.append(service)
        if not to_probe:
            return
        statuses = await asyncio.gather(
            *(probes.status_of(session, f"{s.url}/ready") for s in to_probe)
        )
        for service, status in zip(to_probe, statuses, strict=True):
            if status == 200 and service.process is not None:
                again = service.state == "restarting"
                self._mark_service(service, "ready", service.url)
                if again:
                    self.say(f"{service.name} is ready again")
                else:
                    self.say(
                        f"{service.name} is ready at {service.url} "
                        f"({time.monotonic() - service.started_at:.1f}s)"
                    )

    # -- logs ---------------------------------------------------------------

    async def _follow_logs(self) -> None:
        while True:
            self._print_new_lines()
            await asyncio.sleep(LOG_POLL_SECONDS)

    def _print_new_lines(self, *, final: bool = False) -> None:
        for tail in self._tails:
            for line in tail.terminal_lines(final=final):
                self.console.print(
                    display.prefix(tail.name) + display.format_line(line),
                    soft_wrap=True,
                    markup=False,
                )

    def say(self, message: str, *, style: str = "") -> None:
        """A message of the runner itself: to the terminal and to logs/runner.log."""
        self.console.print(display.prefix("runner") + Text(message, style=style), soft_wrap=True)
        with contextlib.suppress(OSError):
            self.logs_dir.mkdir(parents=True, exist_ok=True)
            with open(self.logs_dir / "runner.log", "a") as log:
                log.write(f"{datetime.now(UTC).isoformat(timespec='milliseconds')} {message}\n")

    # -- extra processes (for hooks) -----------------------------------------

    def spawn_extra(
        self,
        name: str,
        command: list[str],
        *,
        url: str,
        env: Mapping[str, str] | None = None,
        stop_signal: int = signal.SIGTERM,
        stop_timeout: float = 10.0,
    ) -> subprocess.Popen[bytes]:
        """Starts a helper process (Prometheus...) stopped with the platform.

        Call it from a hook (the loop's thread); its death is reported, not fatal.
        """
        managed = ManagedEngine(
            name,
            url,
            self.logs_dir / f"{name}.log",
            essential=False,
            stop_signal=stop_signal,
            stop_timeout=stop_timeout,
        )
        self._tails.append(display.LogTail(name, managed.log_path))
        managed.process = popen_child(command, log_path=managed.log_path, env=env)
        managed.state = "running"
        self.engines[name] = managed
        self._save_state()
        return managed.process

    # -- shutdown -----------------------------------------------------------

    def _on_signal(self, sig: int) -> None:
        self._signals += 1
        if self._signals > 1:
            self._kill_everything()
        self.say(f"received {signal.Signals(sig).name}: stopping (again to kill at once)")
        if self._main is not None and not self._main.done():
            self._main.cancel()

    async def _shutdown(self) -> None:
        """Services first (gracefully, in parallel), then extras, then engines."""
        if self._owns_state:
            with contextlib.suppress(OSError):
                self._stopping = True
                statefile.write(self.data_dir, self._snapshot())
        self._stopping = True
        began = time.monotonic()
        running = [s for s in self.services.values() if _alive(s.process)]
        if running:
            self.say(f"stopping {', '.join(s.name for s in running)}")
        for service in running:
            self._mark_service(service, "stopping")
        await asyncio.gather(
            *(
                _stop(s.process, signal.SIGTERM, SERVICE_STOP_TIMEOUT)
                for s in running
                if s.process is not None
            )
        )
        for service in self.services.values():
            service.state = "stopped"
        self._print_new_lines()
        extras = [m for m in self.engines.values() if m.engine is None and _alive(m.process)]
        engines = [m for m in self.engines.values() if m.engine is not None and _alive(m.process)]
        for group in (extras, engines):
            if group:
                self.say(f"stopping {', '.join(m.name for m in group)}")
            await asyncio.gather(
                *(_stop(m.process, m.stop_signal, m.stop_timeout) for m in group if m.process)
            )
            for managed in group:
                managed.state = "stopped"
        self._print_new_lines(final=True)
        if self._owns_state:
            statefile.remove(self.data_dir)
        if running or engines:
            self.say(f"stopped everything in {time.monotonic() - began:.1f}s")

    def _kill_everything(self) -> None:
        """Second signal: kill every process group at once and leave."""
        processes = [s.process for s in self.services.values()] + [
            m.process for m in self.engines.values()
        ]
        for process in processes:
            if process is not None and process.poll() is None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(process.pid, signal.SIGKILL)
        if self._owns_state:
            statefile.remove(self.data_dir)
        self.console.show_cursor(True)
        self.say("killed every process", style="bold red")
        with contextlib.suppress(OSError, ValueError):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(130)

    # -- state --------------------------------------------------------------

    def _mark_engine(self, managed: ManagedEngine, state: str, detail: str = "") -> None:
        managed.state = state
        self._view.set(managed.name, "engine", state, detail or managed.url)
        self._save_state()

    def _mark_service(self, service: ManagedService, state: str, detail: str = "") -> None:
        service.state = state
        self._view.set(service.name, "service", state, detail or service.url)
        self._save_state()

    def _snapshot(self) -> statefile.RunnerState:
        ready = self._ready_seconds
        return statefile.RunnerState(
            pid=os.getpid(),
            started_at=self._started_at,
            data_dir=str(self.data_dir),
            port_offset=self.options.port_offset,
            gateway_port=self.options.gateway_port,
            process_started=self._process_started,
            state="stopping" if self._stopping else "running" if ready is not None else "starting",
            ready_seconds=round(ready, 2) if ready is not None else None,
            services=[
                statefile.ServiceState(
                    name=s.name,
                    url=s.url,
                    pid=s.process.pid if s.process is not None else None,
                    state=s.state,
                    restarts=s.restarts,
                )
                for s in self.services.values()
            ],
            engines=[
                statefile.EngineState(
                    name=m.name,
                    url=m.url,
                    pid=m.process.pid if m.process is not None else None,
                    state=m.state,
                    external=m.external,
                    port=m.port,
                )
                for m in self.engines.values()
            ],
        )

    def _save_state(self) -> None:
        if not self._owns_state or self._stopping:
            return
        snapshot = self._snapshot()
        text = snapshot.to_json()
        if text != self._last_state:
            statefile.write(self.data_dir, snapshot)
            self._last_state = text


def _preload() -> None:
    """Imports what migrations and service settings need, while the engines start."""
    import mercato.platform.migrations
    import mercato.platform.security  # noqa: F401


async def _at_head(script_location: str, database_url: str) -> bool:
    """True when the database holds exactly the head revisions of its migration tree.

    What Alembic's upgrade would find too, without importing the service's ``env.py``
    and models into the runner (a tenth of a second or more per service on a warm start).
    """
    import asyncpg
    from alembic.script import ScriptDirectory
    from sqlalchemy.engine import make_url

    from mercato.platform.migrations import alembic_config

    def heads() -> set[str]:
        config = alembic_config(script_location, database_url)
        return set(ScriptDirectory.from_config(config).get_heads())

    wanted = await asyncio.to_thread(heads)
    url = make_url(database_url)
    conn = await asyncpg.connect(
        host=url.host,
        port=url.port or 5432,
        user=url.username,
        password=url.password,
        database=url.database,
    )
    try:
        rows = await conn.fetch("SELECT version_num FROM alembic_version")
    except asyncpg.UndefinedTableError:
        return False
    finally:
        await conn.close()
    return bool(wanted) and {row["version_num"] for row in rows} == wanted


def _open_gate(process: subprocess.Popen[bytes] | None) -> bool:
    """Tells a process waiting at its start gate to go; False if it is not there to hear."""
    from mercato.platform.server import GO

    if process is None or process.stdin is None or process.poll() is not None:
        return False
    try:
        process.stdin.write(GO + b"\n")  # a few bytes into an empty pipe: never blocks
        process.stdin.close()
    except (BrokenPipeError, OSError):
        return False
    return True


def _kill_group(process: subprocess.Popen[bytes] | None) -> None:
    """Kills what is left of a dead engine's process group (its leader is reaped)."""
    if process is not None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)


def _alive(process: subprocess.Popen[bytes] | None) -> bool:
    return process is not None and process.poll() is None


async def _stop(process: subprocess.Popen[bytes], sig: int, timeout: float) -> None:
    """Sends ``sig``, waits up to ``timeout`` seconds, then kills the whole process group."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(sig)
    if not await _exited(process, timeout):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        await _exited(process, 30.0)
    # The process group may hold helpers of the process (PostgreSQL's backends): make
    # sure none outlives its leader.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


async def _exited(process: subprocess.Popen[bytes], timeout: float) -> bool:
    """Waits up to ``timeout`` seconds for ``process`` to exit (and reaps it)."""
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            return True
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(0.05)


def run(options: RunOptions, console: Console | None = None) -> int:
    """Runs the platform in the foreground until SIGINT/SIGTERM; the exit status."""
    return asyncio.run(Runner(options, console).run())
