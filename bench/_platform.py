"""A throw-away identity platform for the benchmarks: PostgreSQL, NATS, auth and gateway.

Engines come from the launchers the runner and the tests use; auth's database is
migrated the way the runner does it; auth and gateway run as real processes
(``python -m mercato.platform.server <name>``) with the ``MERCATO_*`` environment.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from dataclasses import dataclass

import asyncpg
from sqlalchemy.engine import make_url

from _common import PYTHON, Child, Processes, free_port, progress, wait_http
from mercato import catalog
from mercato.platform import migrations
from mercato.platform.db import with_database
from mercato.runner.engines import EnginePorts, engines_for

SERVICES = ("auth", "gateway")


@dataclass
class Identity:
    """Where the started services listen."""

    auth_url: str
    gateway_url: str
    auth: Child
    gateway: Child
    engines: dict[str, Child]


def start_identity(processes: Processes, *, auth_env: dict[str, str] | None = None) -> Identity:
    """Starts PostgreSQL and NATS, migrates auth, then auth and the gateway (no rate limit)."""
    engine_secrets = {
        "postgres_password": secrets.token_urlsafe(16),
        "s3_access_key": "unused",
        "s3_secret_key": "unused",
    }
    engines = engines_for(processes.workdir / "engines", EnginePorts.free(), engine_secrets)
    started = []
    for name in ("postgres", "nats"):
        engine = engines[name]
        log_path = processes.workdir / "logs" / f"{name}.log"
        child = Child(name, engine.start(log_path), log_path, stop_signal=engine.stop_signal)
        processes.children.append(child)
        started.append((engine, child))
    for engine, child in started:
        progress(f"waiting for {engine.name}")
        engine.wait_ready(child.process)

    server_url = engines["postgres"].url
    database = catalog.get("auth").database
    assert database is not None
    asyncio.run(_create_database(server_url, database))
    migrations_package = catalog.get("auth").migrations
    assert migrations_package is not None
    migrations.upgrade(migrations_package, with_database(server_url, database))

    ports = {name: free_port() for name in SERVICES}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    common = {
        "MERCATO_ENV": "dev",
        "MERCATO_HOST": "127.0.0.1",
        "MERCATO_LOG_LEVEL": "info",
        "MERCATO_SERVICE_URLS": json.dumps(urls),
    }
    auth = processes.start(
        "auth",
        _server("auth"),
        env={
            **common,
            "MERCATO_SERVICE": "auth",
            "MERCATO_PORT": str(ports["auth"]),
            "MERCATO_DATABASE_URL": with_database(server_url, database),
            "MERCATO_NATS_URL": engines["nats"].url,
            "MERCATO_SECRET_KEY": secrets.token_urlsafe(24),
            **(auth_env or {}),
        },
    )
    progress("waiting for auth")
    wait_http(urls["auth"] + "/ready", auth)
    gateway = processes.start(
        "gateway",
        _server("gateway"),
        env={
            **common,
            "MERCATO_SERVICE": "gateway",
            "MERCATO_PORT": str(ports["gateway"]),
            # One load generator is one client: the per-client limit would cap the run.
            "MERCATO_RATE_LIMIT_PER_SECOND": "0",
        },
    )
    progress("waiting for gateway")
    wait_http(urls["gateway"] + "/ready", gateway)
    return Identity(urls["auth"], urls["gateway"], auth, gateway, {c.name: c for _, c in started})


def _server(name: str) -> list[str]:
    return [PYTHON, "-m", "mercato.platform.server", name]


async def _create_database(server_url: str, name: str) -> None:
    url = make_url(server_url)
    connection = await asyncpg.connect(
        host=url.host, port=url.port, user=url.username, password=url.password, database="postgres"
    )
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
