"""Alembic, one migration tree per service, driven from code.

Each service's ``migrations/env.py`` calls :func:`run_env` with its metadata; the
runner, the CLI (``mercato migrate``) and the Kubernetes migration Job call
:func:`upgrade`. Nothing ever calls ``create_all`` outside tests of the chassis itself.
"""

from __future__ import annotations

import asyncio
import logging

import asyncpg
from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, pool
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import create_async_engine

from mercato.platform.db import async_url

log = logging.getLogger("mercato.migrations")


def alembic_config(script_location: str, database_url: str) -> Config:
    """An Alembic config for a service's tree (``package:dir``) and database."""
    config = Config()
    config.set_main_option("script_location", script_location)
    config.set_main_option("path_separator", "os")
    config.attributes["database_url"] = database_url
    return config


def upgrade(script_location: str, database_url: str, revision: str = "head") -> None:
    """Brings the database up to ``revision``. Blocking: call it from a thread."""
    command.upgrade(alembic_config(script_location, database_url), revision)


def current_head(script_location: str) -> str | None:
    """The head revision of a tree."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config(script_location, "")).get_current_head()


def run_env(metadata: MetaData) -> None:
    """Body of every service's ``env.py``: run migrations online with asyncpg."""
    config = context.config
    url = config.attributes.get("database_url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database URL given to the migration")

    def do_run(connection: Connection) -> None:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            compare_type=True,
            transaction_per_migration=True,
        )
        with context.begin_transaction():
            context.run_migrations()

    async def run() -> None:
        engine = create_async_engine(async_url(url), poolclass=pool.NullPool)
        try:
            async with engine.connect() as connection:
                await connection.run_sync(do_run)
                await connection.commit()
        finally:
            await engine.dispose()

    asyncio.run(run())


async def ensure_database(server_url: str, database: str) -> bool:
    """Creates ``database`` on the server unless it exists; True when it was created."""
    url = make_url(server_url)
    conn = await asyncpg.connect(
        host=url.host,
        port=url.port or 5432,
        user=url.username,
        password=url.password,
        database=url.database or "postgres",
    )
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database)
        if exists:
            return False
        # Identifiers cannot be bound as parameters; the name comes from the catalog.
        quoted = '"' + database.replace('"', '""') + '"'
        await conn.execute(f"CREATE DATABASE {quoted}")
        log.info("created database", extra={"database": database})
        return True
    finally:
        await conn.close()


def migrate_service(name: str, database_url: str | None = None) -> None:
    """Upgrades service ``name``'s database (URL from ``MERCATO_DATABASE_URL`` by default)."""
    import os

    from mercato import catalog

    spec = catalog.get(name)
    if spec.migrations is None:
        log.info("%s has no database; nothing to migrate", name)
        return
    url = database_url or os.environ.get("MERCATO_DATABASE_URL")
    if not url:
        raise SystemExit("MERCATO_DATABASE_URL is not set")
    upgrade(spec.migrations, url)
    log.info("migrated %s to %s", name, current_head(spec.migrations))


def main() -> None:
    """``python -m mercato.platform.migrations <service>``: the migration Job's entry point."""
    import os
    import sys

    from mercato.platform.logging import configure_logging

    name = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("MERCATO_SERVICE", "")
    configure_logging(name or "migrations")
    migrate_service(name)


if __name__ == "__main__":
    main()
