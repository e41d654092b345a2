"""Every catalog service's migrations build exactly its models' schema, and go back down.

The services come from the catalog, so a service added later is covered without
touching this file. By convention its models live in ``mercato.services.<name>.models``
with a declarative ``Base``.
"""

from __future__ import annotations

import asyncio
import importlib
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData, inspect, pool
from sqlalchemy.ext.asyncio import create_async_engine

from mercato import catalog
from mercato.platform import migrations
from mercato.platform.db import async_url
from tests.conftest import Databases

SERVICES_WITH_DATABASE = [s.name for s in catalog.SERVICES.values() if s.database]


def models_metadata(service: str) -> MetaData:
    metadata: MetaData = importlib.import_module(f"mercato.services.{service}.models").Base.metadata
    return metadata


async def schema_diff(url: str, metadata: MetaData) -> list[Any]:
    engine = create_async_engine(async_url(url), poolclass=pool.NullPool)
    try:
        async with engine.connect() as conn:

            def compare(sync_conn: Any) -> list[Any]:
                context = MigrationContext.configure(
                    sync_conn, opts={"compare_type": True, "compare_server_default": False}
                )
                return list(compare_metadata(context, metadata))

            return await conn.run_sync(compare)
    finally:
        await engine.dispose()


async def table_names(url: str) -> set[str]:
    engine = create_async_engine(async_url(url), poolclass=pool.NullPool)
    try:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
    finally:
        await engine.dispose()


def test_the_catalog_has_services_with_databases():
    assert "auth" in SERVICES_WITH_DATABASE


@pytest.mark.parametrize("service", SERVICES_WITH_DATABASE)
async def test_head_matches_the_models_exactly(databases: Databases, service: str):
    spec = catalog.get(service)
    assert spec.migrations is not None
    url = await databases.empty()
    try:
        await asyncio.to_thread(migrations.upgrade, spec.migrations, url)
        diff = await schema_diff(url, models_metadata(service))
        assert diff == [], f"{service}: migrations and models disagree: {diff}"
        assert {"outbox", "inbox", "alembic_version"} <= await table_names(url)
        head = migrations.current_head(spec.migrations)
        assert head is not None
    finally:
        await databases.drop_created()


@pytest.mark.parametrize("service", SERVICES_WITH_DATABASE)
async def test_downgrade_to_base_then_upgrade_again(databases: Databases, service: str):
    spec = catalog.get(service)
    assert spec.migrations is not None
    url = await databases.empty()
    config = migrations.alembic_config(spec.migrations, url)
    try:
        await asyncio.to_thread(migrations.upgrade, spec.migrations, url)
        await asyncio.to_thread(command.downgrade, config, "base")
        assert await table_names(url) <= {"alembic_version"}
        await asyncio.to_thread(migrations.upgrade, spec.migrations, url)
        assert await schema_diff(url, models_metadata(service)) == []
    finally:
        await databases.drop_created()


@pytest.mark.parametrize("service", SERVICES_WITH_DATABASE)
async def test_upgrading_twice_is_harmless(databases: Databases, service: str):
    spec = catalog.get(service)
    assert spec.migrations is not None
    url = await databases.empty()
    try:
        await asyncio.to_thread(migrations.upgrade, spec.migrations, url)
        await asyncio.to_thread(migrations.upgrade, spec.migrations, url)
        assert await schema_diff(url, models_metadata(service)) == []
    finally:
        await databases.drop_created()


async def test_ensure_database_creates_once(databases: Databases):
    import uuid

    name = f"t_ensure_{uuid.uuid4().hex[:10]}"
    databases.created.append(name)
    try:
        assert await migrations.ensure_database(databases.server_url, name) is True
        assert await migrations.ensure_database(databases.server_url, name) is False
    finally:
        await databases.drop_created()


async def test_the_comparison_notices_a_model_the_migrations_lack(databases: Databases):
    from sqlalchemy import Column, Integer, Table

    spec = catalog.get("auth")
    assert spec.migrations is not None
    url = await databases.empty()
    try:
        await asyncio.to_thread(migrations.upgrade, spec.migrations, url)
        metadata = MetaData()
        for table in models_metadata("auth").tables.values():
            table.to_metadata(metadata)
        Table("not_migrated", metadata, Column("id", Integer, primary_key=True))
        metadata.tables["users"].append_column(Column("nickname", Integer))
        diff = await schema_diff(url, metadata)
        kinds = {(d[0], d[1].name if d[0] == "add_table" else d[2]) for d in diff}
        assert kinds == {("add_table", "not_migrated"), ("add_column", "users")}
    finally:
        await databases.drop_created()
