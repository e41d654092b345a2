"""Dead pooled connections heal without a client-visible error; the reader runs without BEGIN.

The pool does not ping a connection before handing it out: these show, on real
PostgreSQL whose backends the test terminates, what stands in for the ping.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from sqlalchemy import Integer, bindparam, event, literal_column, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, InterfaceError
from sqlalchemy.util import await_

from mercato.platform.db import Database, Prepared, new_metadata
from mercato.platform.errors import database_is_unavailable
from tests.conftest import Databases


@pytest.fixture
async def url(databases: Databases) -> AsyncIterator[str]:
    url = await databases.empty()
    yield url
    await databases.drop_created()


@pytest.fixture
async def database(url: str) -> AsyncIterator[Database]:
    database = Database(url, pool_size=2, max_overflow=0, command_timeout=2)
    async with database.engine.begin() as conn:
        await conn.run_sync(new_metadata().create_all)
        await conn.execute(text("CREATE TABLE notes (id serial PRIMARY KEY, body text)"))
    try:
        yield database
    finally:
        await database.close()


@pytest.fixture
async def admin(url: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection of its own, outside the pool, that terminates the pool's backends."""
    parsed = make_url(url)
    connection = await asyncpg.connect(
        host=parsed.host,
        port=parsed.port,
        user=parsed.username,
        password=parsed.password,
        database=parsed.database,
    )
    yield connection
    await connection.close()


async def terminate_others(admin: asyncpg.Connection) -> int:
    """Terminates every other backend of this database (waiting until they are gone)."""
    return int(
        await admin.fetchval(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 5000)) "
            "FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    )


async def notes(admin: asyncpg.Connection) -> list[str]:
    return [r["body"] for r in await admin.fetch("SELECT body FROM notes ORDER BY id")]


async def backend_pid(database: Database) -> int:
    async with database.unit_of_work() as uow:
        return int(await uow.session.scalar(text("SELECT pg_backend_pid()")))


async def test_the_unit_of_work_after_all_backends_were_terminated_succeeds(database, admin):
    before = await backend_pid(database)
    assert await terminate_others(admin) >= 1
    await asyncio.sleep(0)  # the event loop reads the server hanging up, as between requests

    async with database.unit_of_work() as uow:
        await uow.session.execute(text("INSERT INTO notes (body) VALUES ('after')"))
        await uow.commit()

    assert await notes(admin) == ["after"]
    assert await backend_pid(database) != before


async def test_the_reader_after_all_backends_were_terminated_succeeds(database, admin):
    async with database.reader() as reader:
        await reader.execute(select(literal_column("1")))
    assert await terminate_others(admin) >= 1
    await asyncio.sleep(0)

    async with database.reader() as reader:
        assert (await reader.execute(select(literal_column("42")))).scalar_one() == 42


def kill_once_on_checkout(database: Database, admin: asyncpg.Connection) -> list[int]:
    """Terminates the backend of the next connection checked out, after the pool's own check.

    So the connection looks alive when handed out and dies before the first statement: the
    race between a server going away and a request taking a connection.
    """
    killed: list[int] = []

    def kill(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        if killed:
            return
        pid = record.driver_connection.get_server_pid()
        killed.append(pid)
        await_(admin.execute("SELECT pg_terminate_backend($1, 5000)", pid))

    event.listen(database.engine.sync_engine, "checkout", kill)
    return killed


async def test_a_first_statement_on_a_connection_that_died_runs_again_on_a_new_one(database, admin):
    await backend_pid(database)  # a pooled connection to kill
    killed = kill_once_on_checkout(database, admin)

    async with database.unit_of_work() as uow:
        await uow.session.execute(text("INSERT INTO notes (body) VALUES ('once')"))
        pid = await uow.session.scalar(text("SELECT pg_backend_pid()"))
        await uow.commit()

    assert killed
    assert pid != killed[0]
    assert await notes(admin) == ["once"]


async def test_a_first_read_on_a_connection_that_died_runs_again_on_a_new_one(database, admin):
    async with database.reader() as reader:
        await reader.execute(select(literal_column("1")))
    killed = kill_once_on_checkout(database, admin)

    async with database.reader() as reader:
        pid = (await reader.execute(select(literal_column("pg_backend_pid()")))).scalar_one()

    assert killed
    assert pid != killed[0]


async def test_a_unit_of_work_that_already_wrote_is_not_retried(database, admin):
    with pytest.raises(DBAPIError) as failure:  # noqa: PT012 (the block is the subject)
        async with database.unit_of_work() as uow:
            await uow.session.execute(text("INSERT INTO notes (body) VALUES ('lost')"))
            assert await terminate_others(admin) == 1
            await uow.session.execute(text("INSERT INTO notes (body) VALUES ('second')"))
            await uow.commit()

    assert failure.value.connection_invalidated
    assert await notes(admin) == []  # the server rolled the first insert back
    # and the pool heals for the next unit
    async with database.unit_of_work() as uow:
        await uow.session.execute(text("INSERT INTO notes (body) VALUES ('next')"))
        await uow.commit()
    assert await notes(admin) == ["next"]


async def test_a_reader_whose_connection_dies_after_its_first_statement_fails(database, admin):
    with pytest.raises(DBAPIError) as failure:  # noqa: PT012 (the block is the subject)
        async with database.reader() as reader:
            await reader.execute(select(literal_column("1")))
            await terminate_others(admin)
            await reader.execute(select(literal_column("2")))
    assert failure.value.connection_invalidated


async def test_the_reader_runs_each_statement_outside_a_transaction(database):
    async with database.reader() as reader:
        first = (await reader.execute(select(literal_column("now()")))).scalar_one()
        await asyncio.sleep(0.01)
        second = (await reader.execute(select(literal_column("now()")))).scalar_one()
        in_block = (
            await reader.execute(select(literal_column("txid_current_if_assigned()")))
        ).scalar_one()
    # In a transaction now() is its start, the same for every statement.
    assert second > first
    assert in_block is None


async def test_the_reader_refuses_anything_but_a_select(database, admin):
    async with database.reader() as reader:
        with pytest.raises(TypeError, match="SELECT"):
            await reader.execute(text("INSERT INTO notes (body) VALUES ('no')"))
    assert await notes(admin) == []


async def test_the_reader_keeps_the_statement_timeout(url):
    database = Database(url, command_timeout=0.5)
    try:
        async with database.reader() as reader:
            with pytest.raises(TimeoutError):
                await reader.execute(select(literal_column("pg_sleep(3)")))
    finally:
        await database.close()


async def test_the_reader_exists_only_inside_the_block(database):
    reader = database.reader()
    with pytest.raises(RuntimeError, match="not open"):
        await reader.execute(select(literal_column("1")))


PID_AND_VALUE = Prepared(
    select(literal_column("pg_backend_pid()").label("pid"), bindparam("value", type_=Integer))
)


async def test_a_prepared_read_runs_with_its_parameters_by_name(database):
    async with database.reader() as reader:
        (row,) = await reader.fetch(PID_AND_VALUE, {"value": 7})
    assert row[1] == 7


async def test_a_first_prepared_read_on_a_connection_that_died_runs_again_on_a_new_one(
    database, admin
):
    async with database.reader() as reader:
        await reader.fetch(PID_AND_VALUE, {"value": 1})
    killed = kill_once_on_checkout(database, admin)

    async with database.reader() as reader:
        (row,) = await reader.fetch(PID_AND_VALUE, {"value": 2})
        (again,) = await reader.fetch(PID_AND_VALUE, {"value": 3})

    assert killed
    assert row["pid"] != killed[0]
    assert again["pid"] == row["pid"]


async def test_a_prepared_read_whose_connection_dies_after_its_first_fails_as_unavailable(
    database, admin
):
    # Raised as SQLAlchemy's error, as reader.execute raises it, so the chassis answers 503
    # + Retry-After (an InterfaceError, or a SQLSTATE of a server going) and not 500.
    with pytest.raises(DBAPIError) as failure:  # noqa: PT012 (the block is the subject)
        async with database.reader() as reader:
            await reader.fetch(PID_AND_VALUE, {"value": 1})
            await terminate_others(admin)
            await reader.fetch(PID_AND_VALUE, {"value": 2})
    assert failure.value.connection_invalidated
    assert isinstance(failure.value, InterfaceError) or database_is_unavailable(failure.value)


async def test_a_prepared_read_after_all_backends_were_terminated_succeeds(database, admin):
    async with database.reader() as reader:
        await reader.fetch(PID_AND_VALUE, {"value": 1})
    assert await terminate_others(admin) >= 1
    await asyncio.sleep(0)
    async with database.reader() as reader:
        (row,) = await reader.fetch(PID_AND_VALUE, {"value": 2})
    assert row[1] == 2


def test_only_a_select_is_prepared():
    with pytest.raises(TypeError, match="SELECT"):
        Prepared(text("DELETE FROM notes"))


async def test_an_explicit_transaction_whose_connection_died_fails_and_the_next_succeeds(
    database, admin
):
    await backend_pid(database)
    killed = kill_once_on_checkout(database, admin)

    with pytest.raises(DBAPIError) as failure:
        async with database.sessionmaker() as session, session.begin():
            await session.execute(text("INSERT INTO notes (body) VALUES ('lost')"))
    assert killed
    assert failure.value.connection_invalidated

    async with database.sessionmaker() as session, session.begin():
        await session.execute(text("INSERT INTO notes (body) VALUES ('next')"))
    assert await notes(admin) == ["next"]
