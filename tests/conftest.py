"""Shared fixtures: real engines for the whole session, fresh state for every test.

Engines are started by the same launchers the runner uses (``mercato.runner.engines``)
unless ``MERCATO_TEST_DATABASE_URL`` / ``MERCATO_TEST_NATS_URL`` /
``MERCATO_TEST_S3_ENDPOINT`` point at external servers. Each test gets its own
databases (cloned from a migrated template), its own event stream and its own buckets.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import uvicorn
from sqlalchemy.engine import make_url

from mercato import catalog
from mercato.platform import migrations
from mercato.platform.db import with_database
from mercato.platform.server import load, load_settings
from mercato.platform.settings import ServiceSettings
from mercato.runner.engines import EnginePorts, engines_for, free_port
from tests.processes import ServiceProcess, start_process

TEST_SECRETS = {
    "postgres_password": "test-postgres-password",
    "s3_access_key": "mercatotest",
    "s3_secret_key": "test-s3-secret-key-0123456789",
    "auth_secret_key": "test-auth-secret-key-0123456789",
}


@dataclass(frozen=True)
class EngineSet:
    """Where the test engines listen."""

    postgres_url: str
    nats_url: str
    s3_endpoint: str
    s3_access_key: str
    s3_secret_key: str


@pytest.fixture(scope="session")
def engines() -> Iterator[EngineSet]:
    """PostgreSQL, NATS and S3 for the whole session."""
    external = {
        "postgres": os.environ.get("MERCATO_TEST_DATABASE_URL"),
        "nats": os.environ.get("MERCATO_TEST_NATS_URL"),
        "s3": os.environ.get("MERCATO_TEST_S3_ENDPOINT"),
    }
    base = Path(tempfile.mkdtemp(prefix="mercato-test-engines-"))
    # As root, PostgreSQL's binaries and cluster go here rather than to /var/lib/mercato.
    postgres_home = base.with_name(f"{base.name}-postgres")
    launchers = engines_for(base, EnginePorts.free(), TEST_SECRETS, postgres_home=postgres_home)
    started = []
    try:
        for name, url in external.items():
            if not url:
                engine = launchers[name]
                started.append((engine, engine.start(base / "logs" / f"{name}.log")))
        for engine, process in started:
            engine.wait_ready(process)
        yield EngineSet(
            postgres_url=external["postgres"] or launchers["postgres"].url,
            nats_url=external["nats"] or launchers["nats"].url,
            s3_endpoint=external["s3"] or launchers["s3"].url,
            s3_access_key=os.environ.get(
                "MERCATO_TEST_S3_ACCESS_KEY", TEST_SECRETS["s3_access_key"]
            ),
            s3_secret_key=os.environ.get(
                "MERCATO_TEST_S3_SECRET_KEY", TEST_SECRETS["s3_secret_key"]
            ),
        )
    finally:
        for engine, process in reversed(started):
            engine.stop(process)
        shutil.rmtree(base, ignore_errors=True)
        shutil.rmtree(postgres_home, ignore_errors=True)


class Databases:
    """Fresh databases cloned from a migrated template per service."""

    def __init__(self, server_url: str) -> None:
        self.server_url = server_url
        self._templates: dict[str, str] = {}
        self._lock = asyncio.Lock()
        self.created: list[str] = []

    async def _execute(self, sql: str) -> None:
        url = make_url(self.server_url)
        conn = await asyncpg.connect(
            host=url.host,
            port=url.port,
            user=url.username,
            password=url.password,
            database="postgres",
        )
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    async def template(self, service: str) -> str:
        """The migrated template database of ``service`` (made once per session)."""
        async with self._lock:
            if service not in self._templates:
                spec = catalog.get(service)
                assert spec.migrations is not None
                name = f"tmpl_{service}_{uuid.uuid4().hex[:8]}"
                await self._execute(f'CREATE DATABASE "{name}"')
                await asyncio.to_thread(
                    migrations.upgrade, spec.migrations, with_database(self.server_url, name)
                )
                self._templates[service] = name
            return self._templates[service]

    async def fresh(self, service: str) -> str:
        """The URL of a new database for ``service``, already migrated."""
        template = await self.template(service)
        name = f"t_{service}_{uuid.uuid4().hex[:12]}"
        await self._execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        self.created.append(name)
        return with_database(self.server_url, name)

    async def empty(self) -> str:
        """The URL of a new, empty database."""
        name = f"t_empty_{uuid.uuid4().hex[:12]}"
        await self._execute(f'CREATE DATABASE "{name}"')
        self.created.append(name)
        return with_database(self.server_url, name)

    async def drop_created(self) -> None:
        """Drops the databases made for finished tests."""
        names, self.created = self.created, []
        for name in names:
            with contextlib.suppress(Exception):
                await self._execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def databases(engines: EngineSet) -> Databases:
    """The session's database factory."""
    return Databases(engines.postgres_url)


@dataclass
class RunningService:
    """A service app served by uvicorn on a real port inside the test's event loop."""

    name: str
    url: str
    settings: ServiceSettings
    app: Any
    server: uvicorn.Server
    task: asyncio.Task[None]
    client: httpx.AsyncClient


@dataclass
class Harness:
    """Starts catalog services in-process, wired to the session's engines."""

    engines: EngineSet
    databases: Databases
    prefix: str = field(default_factory=lambda: f"t{uuid.uuid4().hex[:10]}")
    ports: dict[str, int] = field(default_factory=dict)
    running: dict[str, RunningService] = field(default_factory=dict)
    processes: list[ServiceProcess] = field(default_factory=list)

    def port(self, name: str) -> int:
        """The port service ``name`` gets in this test."""
        if name not in self.ports:
            self.ports[name] = free_port()
        return self.ports[name]

    def service_urls(self) -> dict[str, str]:
        """Where every catalog service would listen in this test."""
        return {n: f"http://127.0.0.1:{self.port(n)}" for n in catalog.names()}

    async def settings(self, name: str, **overrides: Any) -> ServiceSettings:
        """Settings for ``name`` with a fresh database, this test's stream and buckets."""
        spec = catalog.get(name)
        values: dict[str, Any] = {
            "port": self.port(name),
            "nats_url": self.engines.nats_url,
            "event_prefix": self.prefix,
            "s3_endpoint": self.engines.s3_endpoint,
            "s3_access_key": self.engines.s3_access_key,
            "s3_secret_key": self.engines.s3_secret_key,
            "s3_bucket_prefix": f"{self.prefix}-",
            "service_urls": self.service_urls(),
            "secret_key": TEST_SECRETS["auth_secret_key"],
        }
        if spec.database:
            values["database_url"] = await self.databases.fresh(name)
        # Every service gets its own client secret, as the runner gives it: the gateway
        # keys its address seal with it, order fetches its service token with it.
        from mercato.platform.security import derive_client_secret

        values["client_secret"] = derive_client_secret(TEST_SECRETS["auth_secret_key"], name)
        values.update(overrides)
        return load_settings(name, **values)

    async def start(self, name: str, **overrides: Any) -> RunningService:
        """Builds service ``name`` and serves it until the test ends."""
        settings = await self.settings(name, **overrides)
        return await self.serve(name, settings)

    async def serve(self, name: str, settings: ServiceSettings) -> RunningService:
        """Serves service ``name`` with the given settings."""
        app = load(catalog.get(name).app_factory)(settings)
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=settings.port,
            log_config=None,
            lifespan="on",
            proxy_headers=False,  # as the server runs it: the gateway decides addresses
        )
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve())
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError(f"{name} did not start")
            await asyncio.sleep(0.02)
        url = f"http://127.0.0.1:{settings.port}"
        running = RunningService(
            name, url, settings, app, server, task, httpx.AsyncClient(base_url=url, timeout=30)
        )
        self.running[name] = running
        return running

    async def stop(self, name: str) -> None:
        """Stops one running service."""
        running = self.running.pop(name)
        await running.client.aclose()
        running.server.should_exit = True
        await running.task

    async def spawn(
        self,
        name: str,
        settings: ServiceSettings | None = None,
        *,
        faults: str = "",
        **overrides: Any,
    ) -> ServiceProcess:
        """Runs service ``name`` as its own process, e.g. to SIGKILL it (see tests/processes.py).

        Pass the ``settings`` of an earlier process to restart it on the same database.
        """
        process = await start_process(
            name, settings or await self.settings(name, **overrides), faults=faults
        )
        self.processes.append(process)
        return process

    async def close(self) -> None:
        """Stops everything this test started."""
        for name in list(self.running):
            await self.stop(name)
        for process in self.processes:
            await process.stop()


@pytest.fixture
async def harness(engines: EngineSet, databases: Databases) -> AsyncIterator[Harness]:
    """A harness whose services are stopped and whose databases are dropped afterwards."""
    h = Harness(engines, databases)
    try:
        yield h
    finally:
        await h.close()
        await databases.drop_created()
