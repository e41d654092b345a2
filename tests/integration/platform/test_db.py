"""The unit of work and the pool against real PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import ClassVar

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text
from sqlalchemy.engine import make_url

from mercato.platform.db import Database, async_url, new_metadata, with_database
from mercato.platform.envelope import EventPayload
from mercato.platform.metrics import Metrics
from mercato.runner.engines import free_port
from tests.conftest import Databases


class NoteAdded(EventPayload):
    """The contract of this test's events."""

    event_type: ClassVar[str] = "note.added"

    body: str | None = None


@pytest.fixture
def metrics() -> Metrics:
    return Metrics("user", version="1", commit="c", env="dev")


@pytest.fixture
async def database(databases: Databases, metrics: Metrics) -> AsyncIterator[Database]:
    database = Database(
        await databases.empty(),
        metrics=metrics,
        pool_size=2,
        max_overflow=1,
        source="user",
    )
    async with database.engine.begin() as conn:
        await conn.run_sync(new_metadata().create_all)
        await conn.execute(text("CREATE TABLE notes (id serial PRIMARY KEY, body text)"))
    try:
        yield database
    finally:
        await database.close()
        await databases.drop_created()


async def notes(database: Database) -> list[str]:
    async with database.sessionmaker() as session:
        return list(await session.scalars(text("SELECT body FROM notes ORDER BY id")))


async def add_note(uow, body: str) -> None:
    await uow.session.execute(text("INSERT INTO notes (body) VALUES (:b)"), {"b": body})


def sample(metrics: Metrics, name: str) -> float | None:
    exposition = metrics.exposition()[0].decode()
    for family in text_string_to_metric_families(exposition):
        for s in family.samples:
            if s.name == name:
                return s.value
    return None


async def test_a_committed_unit_of_work_is_durable(database):
    async with database.unit_of_work() as uow:
        await add_note(uow, "kept")
        await uow.commit()
    assert await notes(database) == ["kept"]


async def test_leaving_without_commit_rolls_back(database):
    async with database.unit_of_work() as uow:
        await add_note(uow, "forgotten")
    assert await notes(database) == []


async def test_an_exception_rolls_back(database):
    with pytest.raises(ValueError, match="use case"):  # noqa: PT012 (the block is the subject)
        async with database.unit_of_work() as uow:
            await add_note(uow, "doomed")
            raise ValueError("use case failed")
    assert await notes(database) == []


async def test_an_explicit_rollback_discards_the_work(database):
    async with database.unit_of_work() as uow:
        await add_note(uow, "undone")
        await uow.rollback()
        await add_note(uow, "after")
        await uow.commit()
    assert await notes(database) == ["after"]


async def test_the_session_exists_only_inside_the_block(database):
    uow = database.unit_of_work()
    with pytest.raises(RuntimeError, match="not open"):
        _ = uow.session
    async with uow:
        assert uow.session is not None
    with pytest.raises(RuntimeError, match="not open"):
        _ = uow.session


async def test_the_relay_is_woken_only_when_events_were_committed(database):
    wakes = 0

    def wake() -> None:
        nonlocal wakes
        wakes += 1

    database.on_commit_with_events.append(wake)
    async with database.unit_of_work() as uow:
        await add_note(uow, "no events")
        await uow.commit()
    assert wakes == 0
    async with database.unit_of_work() as uow:
        await uow.publish(NoteAdded(), subject="1")
        await uow.publish(NoteAdded(), subject="2")
        await uow.commit()
    assert wakes == 1
    async with database.unit_of_work() as uow:
        await uow.publish(NoteAdded(), subject="3")
    assert wakes == 1
    async with database.unit_of_work() as uow:
        await uow.publish(NoteAdded(), subject="4")
        await uow.rollback()
        await add_note(uow, "then plain work")
        await uow.commit()
    assert wakes == 1
    async with database.unit_of_work() as uow:
        await uow.publish(NoteAdded(), subject="5")
        await uow.commit()
        await add_note(uow, "a second transaction in the same unit")
        await uow.commit()
    assert wakes == 2


async def test_events_commit_with_the_change_in_one_transaction(database):
    async with database.unit_of_work() as uow:
        await add_note(uow, "with event")
        event_id = await uow.publish(NoteAdded(body="with event"), subject="n")
        await uow.commit()
    async with database.sessionmaker() as session:
        envelope = await session.scalar(
            text("SELECT envelope FROM outbox WHERE id = :id"), {"id": event_id}
        )
    assert envelope["id"] == str(event_id)
    assert envelope["data"] == {"body": "with event"}
    assert envelope["type"] == "note.added"
    assert envelope["subject"] == "n"
    assert await notes(database) == ["with event"]


async def test_an_event_is_written_from_its_contract_model_with_its_version(database):
    class NoteAddedV2(NoteAdded):
        version: ClassVar[int] = 2

    async with database.unit_of_work() as uow:
        event_id = await uow.publish(NoteAddedV2(body="typed"), subject="n")
        await uow.commit()
    async with database.sessionmaker() as session:
        envelope = await session.scalar(
            text("SELECT envelope FROM outbox WHERE id = :id"), {"id": event_id}
        )
    assert envelope["type"] == "note.added"
    assert envelope["data"] == {"body": "typed"}
    assert envelope["schema_version"] == 2
    assert envelope["source"] == "user"  # the outbox knows whose it is


async def test_a_database_without_its_service_writes_no_event(databases: Databases):
    database = Database(await databases.empty())
    try:
        async with database.unit_of_work() as uow:
            with pytest.raises(RuntimeError, match="without the service"):
                await uow.publish(NoteAdded(), subject="n")
    finally:
        await database.close()
        await databases.drop_created()


async def test_check_passes_on_a_live_database(database):
    await database.check()


async def test_pool_metrics_are_exported(database, metrics):
    assert sample(metrics, "mercato_db_pool_size") == 3
    async with database.unit_of_work() as uow:
        await add_note(uow, "x")
        assert sample(metrics, "mercato_db_pool_in_use") == 1
        await uow.commit()
    assert sample(metrics, "mercato_db_pool_in_use") == 0
    assert sample(metrics, "mercato_db_pool_wait_seconds_count") >= 1


async def test_concurrent_units_of_work_beyond_the_pool_wait_their_turn(database, metrics):
    async def work(n: int) -> None:
        async with database.unit_of_work() as uow:
            await add_note(uow, str(n))
            await asyncio.sleep(0.05)
            await uow.commit()

    await asyncio.gather(*(work(n) for n in range(8)))
    assert sorted(await notes(database), key=int) == [str(n) for n in range(8)]
    assert sample(metrics, "mercato_db_pool_in_use") == 0


async def test_connections_beyond_the_pool_size_stay_open_for_the_next_requests(database):
    async def backends_of_concurrent_units() -> set[int]:
        together = asyncio.Barrier(3)  # the fixture's pool: 2 + 1 overflow

        async def backend() -> int:
            async with database.unit_of_work() as uow:
                pid = await uow.session.scalar(text("SELECT pg_backend_pid()"))
                await together.wait()  # all three connections checked out at once
                return int(pid)

        return set(await asyncio.gather(*(backend() for _ in range(3))))

    first = await backends_of_concurrent_units()
    assert len(first) == 3
    assert await backends_of_concurrent_units() == first


async def test_an_unreachable_database_fails_the_check(databases):
    closed = make_url(databases.server_url).set(port=free_port(), database="nothing")
    database = Database(
        closed.render_as_string(hide_password=False),
        metrics=Metrics("x", version="1", commit="c", env="dev"),
    )
    try:
        with pytest.raises(ConnectionRefusedError):
            await database.check()
    finally:
        await database.close()


def test_urls_are_normalised_to_asyncpg():
    assert async_url("postgresql://u:p@h:5/d").startswith("postgresql+asyncpg://u:p@h:5/d")
    assert async_url("postgres+psycopg://u:p@h/d").startswith("postgresql+asyncpg://")
    assert with_database("postgresql://u:p@h:5/a", "b") == "postgresql://u:p@h:5/b"
