"""Administration from the command line: ``mercato admin create`` and ``mercato keys rotate``.

Both work whether or not the platform runs. They reach PostgreSQL through, in order:
the server named by ``MERCATO_DATABASE_URL``; the embedded server of a live runner of
the data dir; or the data dir's embedded server, started just for the command.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from mercato import catalog
from mercato.platform import migrations
from mercato.platform.db import with_database
from mercato.runner import state as statefile
from mercato.runner.engines import Postgres, free_port, postgres_home
from mercato.runner.secrets import load_or_create
from mercato.services.auth.app import build
from mercato.services.auth.keys import KeyRing
from mercato.services.auth.service import Accounts
from mercato.services.auth.settings import Settings

T = TypeVar("T")
Say = Callable[[str], None]
# auth's Platform wants an event bus address; the command never connects to it: the
# outbox rows it writes are relayed by the running auth (now or at its next start).
UNUSED_NATS_URL = "nats://127.0.0.1:4222"
STARTING_WAIT_SECONDS = 120.0


class AdminError(RuntimeError):
    """The command cannot reach the database; the message says what to do."""


@dataclass(frozen=True)
class CreatedAdmin:
    """The administrator account as the command made it."""

    id: str
    email: str
    roles: list[str]


@contextmanager
def database_server(data_dir: Path, environ: Mapping[str, str], say: Say) -> Iterator[str]:
    """A PostgreSQL server URL for the command, started (and stopped) here if need be."""
    external = environ.get("MERCATO_DATABASE_URL")
    if external:
        yield external
        return
    data_dir = data_dir.resolve()
    secrets = load_or_create(data_dir)
    port = _running_postgres_port(data_dir)
    if port is not None:
        yield Postgres(data_dir / "postgres", port=port, password=secrets["postgres_password"]).url
        return
    engine = Postgres(
        data_dir / "postgres",
        port=free_port(),
        password=secrets["postgres_password"],
        home=postgres_home(environ),
    )
    say(f"Mercato is not running: starting the PostgreSQL of {data_dir} for this command")
    process = engine.start(data_dir / "logs" / "postgres.log")
    try:
        engine.wait_ready(process)
        yield engine.url
    finally:
        engine.stop(process)


def _running_postgres_port(data_dir: Path) -> int | None:
    """The port of the live runner's embedded PostgreSQL; None when no runner is live."""
    deadline = time.monotonic() + STARTING_WAIT_SECONDS
    while True:
        try:
            runner = statefile.read(data_dir)
        except statefile.StateFileError:
            return None
        if runner is None or not statefile.runner_alive(runner):
            return None
        engine = runner.engine("postgres")
        if engine is None or engine.external or engine.port is None:
            raise AdminError(
                f"the Mercato running from {data_dir} does not run its own PostgreSQL: "
                "set MERCATO_DATABASE_URL to the server it uses"
            )
        if engine.state == "running":
            return engine.port
        if time.monotonic() > deadline:
            raise AdminError(f"the PostgreSQL of the running Mercato is {engine.state}")
        time.sleep(0.2)


async def with_auth(
    server_url: str, auth_secret_key: str, work: Callable[[Accounts, KeyRing], Awaitable[T]]
) -> T:
    """Runs ``work`` with auth's use cases on its (created and migrated) database."""
    spec = catalog.get("auth")
    assert spec.database is not None
    assert spec.migrations is not None
    url = with_database(server_url, spec.database)
    await migrations.ensure_database(server_url, spec.database)
    # Alembic runs its own event loop: give it a thread.
    await asyncio.to_thread(migrations.upgrade, spec.migrations, url)
    settings = Settings(
        service="auth",
        database_url=url,
        secret_key=auth_secret_key,
        nats_url=UNUSED_NATS_URL,
    )
    platform, accounts, keys = build(settings)
    assert platform.database is not None
    try:
        return await work(accounts, keys)
    finally:
        await platform.database.close()


def create_admin(
    data_dir: Path,
    *,
    email: str,
    password: str,
    name: str,
    environ: Mapping[str, str],
    say: Say,
) -> CreatedAdmin:
    """Creates an administrator, or promotes an existing account and sets its password."""

    async def work(accounts: Accounts, _: KeyRing) -> CreatedAdmin:
        user = await accounts.create_admin(email=email, password=password, name=name)
        return CreatedAdmin(str(user.id), user.email, list(user.roles))

    secret = load_or_create(data_dir.resolve())["auth_secret_key"]
    with database_server(data_dir, environ, say) as server:
        return asyncio.run(with_auth(server, secret, work))


def rotate_keys(data_dir: Path, *, environ: Mapping[str, str], say: Say) -> str:
    """Makes a new current signing key; the kid of the new key."""

    async def work(_: Accounts, keys: KeyRing) -> str:
        return await keys.rotate()

    secret = load_or_create(data_dir.resolve())["auth_secret_key"]
    with database_server(data_dir, environ, say) as server:
        return asyncio.run(with_auth(server, secret, work))
