"""Outbox, relay and inbox against real PostgreSQL and NATS JetStream.

Each test gets a fresh database holding the chassis' event tables (``create_all`` is fine
in tests of the chassis itself) plus an ``effects`` table its handlers write to, and its
own stream prefix.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import nats
import orjson
import pytest
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from mercato.platform.context import (
    TraceContext,
    current_request_id,
    current_trace,
    request_id_var,
)
from mercato.platform.db import Database, UnitOfWork, new_metadata
from mercato.platform.envelope import EventPayload
from mercato.platform.events import (
    Event,
    EventBus,
    Handler,
    InboxConsumer,
    OutboxRelay,
    ensure_stream,
    stream_name,
    subject_for,
)
from mercato.platform.metrics import Metrics
from tests.chassis import in_trace
from tests.conftest import Databases, EngineSet

EVENT = "user.registered"
SETTLE = 30.0  # upper bound for waiting on an outcome; never a speed assertion


class Registered(EventPayload):
    """The contract of this test's events (the chassis does not care what they carry)."""

    event_type: ClassVar[str] = EVENT

    n: int | None = None
    email: str | None = None


class Unrelayable(EventPayload):
    """A type that makes an invalid NATS subject: JetStream cannot take it."""

    event_type: ClassVar[str] = "bad subject"


MODELS = {model.event_type: model for model in (Registered, Unrelayable)}


@dataclass
class Rig:
    """One service's worth of event plumbing on real engines."""

    database: Database
    nc: NatsClient
    js: JetStreamContext
    prefix: str
    metrics: Metrics
    consumers: list[InboxConsumer] = field(default_factory=list)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def relay(self) -> OutboxRelay:
        return OutboxRelay(
            database=self.database, js=self.js, prefix=self.prefix, metrics=self.metrics
        )

    def consumer(self, handler: Handler, **options: Any) -> InboxConsumer:
        values: dict[str, Any] = {"ack_wait": 1.0, "max_deliver": 5}
        values.update(options)
        metrics = (
            self.metrics
            if not self.consumers
            else Metrics("user", version="1", commit="c", env="dev")
        )
        consumer = InboxConsumer(
            service="user",
            database=self.database,
            js=self.js,
            prefix=self.prefix,
            handlers={EVENT: handler},
            models=MODELS,
            metrics=metrics,
            **values,
        )
        self.consumers.append(consumer)
        return consumer

    def run(self, consumer: InboxConsumer) -> asyncio.Task[None]:
        task = asyncio.create_task(consumer.run())
        self.tasks.append(task)
        return task

    async def publish(self, count: int = 1, **data: Any) -> list[uuid.UUID]:
        ids = []
        async with self.database.unit_of_work() as uow:
            for n in range(count):
                payload = Registered(**data) if data else Registered(n=n)
                ids.append(await uow.publish(payload, subject=f"user-{n}"))
            await uow.commit()
        return ids

    async def stream_messages(self) -> list[Msg]:
        """Every message in the stream, read by a throwaway consumer."""
        info = await self.js.stream_info(stream_name(self.prefix))
        total = info.state.messages
        if total == 0:
            return []
        reader = await self.js.pull_subscribe(
            f"{self.prefix}.events.>", stream=stream_name(self.prefix)
        )
        try:
            messages: list[Msg] = []
            while len(messages) < total:
                messages += await reader.fetch(total - len(messages), timeout=5)
            return messages
        finally:
            await reader.unsubscribe()

    async def effects(self) -> dict[uuid.UUID, int]:
        async with self.database.sessionmaker() as session:
            rows = await session.execute(
                text("SELECT event_id, count(*) FROM effects GROUP BY event_id")
            )
            return {row[0]: row[1] for row in rows}

    def outcomes(self, metrics: Metrics | None = None) -> dict[str, float]:
        """Events consumed by outcome, whatever their type."""
        exposition = (metrics or self.metrics).exposition()[0].decode()
        totals: dict[str, float] = {}
        for family in text_string_to_metric_families(exposition):
            for s in family.samples:
                if s.name == "mercato_events_consumed_total":
                    outcome = s.labels["outcome"]
                    totals[outcome] = totals.get(outcome, 0) + s.value
        return totals


async def record_effect(event: Event, uow: UnitOfWork) -> None:
    await uow.session.execute(
        text("INSERT INTO effects (event_id, note) VALUES (:id, :note)"),
        {"id": event.id, "note": str(event.data)},
    )


async def eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Waits until ``check`` holds (a bound against hanging, not a timing assertion)."""
    try:
        async with asyncio.timeout(SETTLE):
            # Polling on purpose: the state lives in PostgreSQL and NATS, not in an Event.
            while not await check():  # noqa: ASYNC110
                await asyncio.sleep(0.05)
    except TimeoutError:
        pytest.fail(what)


@pytest.fixture
async def rig(engines: EngineSet, databases: Databases) -> AsyncIterator[Rig]:
    metrics = Metrics("user", version="1", commit="c", env="dev")
    database = Database(await databases.empty(), metrics=metrics, source="auth")
    async with database.engine.begin() as conn:
        await conn.run_sync(new_metadata().create_all)
        await conn.execute(text("CREATE TABLE effects (event_id uuid NOT NULL, note text)"))
    nc = await nats.connect(engines.nats_url)
    js = nc.jetstream()
    prefix = f"t{uuid.uuid4().hex[:10]}"
    await ensure_stream(js, prefix)
    rig = Rig(database, nc, js, prefix, metrics)
    try:
        yield rig
    finally:
        for task in rig.tasks:
            task.cancel()
        for task in rig.tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for consumer in rig.consumers:
            await consumer.close()
        with contextlib.suppress(Exception):
            await js.delete_stream(stream_name(prefix))
        await nc.close()
        await database.close()
        await databases.drop_created()


# -- the outbox and its relay ----------------------------------------------------------


async def test_the_relay_publishes_each_committed_event_once_with_its_id(rig):
    ids = await rig.publish(3)
    relay = rig.relay()
    assert await relay.relay_once() == 3
    assert await relay.relay_once() == 0
    messages = await rig.stream_messages()
    assert [uuid.UUID(m.headers["Nats-Msg-Id"]) for m in messages] == ids
    for message, event_id in zip(messages, ids, strict=True):
        event = Event.from_json(message.data)
        assert event.id == event_id
        assert event.type == EVENT
        assert event.source == "auth"
        assert event.schema_version == 1
        assert message.subject == subject_for(rig.prefix, EVENT)
        assert message.headers["traceparent"] == event.traceparent
    async with rig.database.sessionmaker() as session:
        unpublished = await session.scalar(
            text("SELECT count(*) FROM outbox WHERE published_at IS NULL")
        )
    assert unpublished == 0


async def test_a_rolled_back_transaction_publishes_nothing(rig):
    async with rig.database.unit_of_work() as uow:
        await uow.publish(Registered(), subject="s")
        # left without commit
    async with rig.database.unit_of_work() as uow:
        await uow.publish(Registered(), subject="s")
        await uow.rollback()
    with contextlib.suppress(RuntimeError):
        async with rig.database.unit_of_work() as uow:
            await uow.publish(Registered(), subject="s")
            raise RuntimeError("use case failed")
    assert await rig.relay().relay_once() == 0
    assert await rig.stream_messages() == []


async def test_a_republished_event_is_dropped_by_the_broker(rig):
    [event_id] = await rig.publish(1)
    relay = rig.relay()
    await relay.relay_once()
    # The relay crashed after publishing, before marking: the row is pending again.
    async with rig.database.sessionmaker() as session, session.begin():
        await session.execute(text("UPDATE outbox SET published_at = NULL"))
    assert await relay.relay_once() == 1
    messages = await rig.stream_messages()
    assert len(messages) == 1
    # The broker says so itself.
    ack = await rig.js.publish(
        subject_for(rig.prefix, EVENT), messages[0].data, headers={"Nats-Msg-Id": str(event_id)}
    )
    assert ack.duplicate is True

    consumer = rig.consumer(record_effect)
    rig.run(consumer)

    async def handled() -> bool:
        return rig.outcomes().get("processed") == 1

    await eventually(handled, "the event was never handled")
    assert await rig.effects() == {event_id: 1}


async def test_the_relay_wakes_on_commit(rig):
    relay = rig.relay()
    relay._poll_interval = 3600  # only a wake-up can make it publish
    rig.tasks.append(asyncio.create_task(relay.run()))
    await asyncio.sleep(0.1)
    [event_id] = await rig.publish(1)

    async def published() -> bool:
        info = await rig.js.stream_info(stream_name(rig.prefix))
        return info.state.messages == 1

    await eventually(published, "the relay did not wake up")
    [message] = await rig.stream_messages()
    assert message.headers["Nats-Msg-Id"] == str(event_id)


async def test_a_failing_publish_keeps_what_was_already_published(rig):
    ids = await rig.publish(2)
    async with rig.database.unit_of_work() as uow:
        await uow.publish(Unrelayable(), subject="s")
        await uow.commit()
    relay = rig.relay()
    with pytest.raises(Exception):  # noqa: B017, PT011 (whatever nats-py raises)
        await relay.relay_once()
    async with rig.database.sessionmaker() as session:
        rows = (
            await session.execute(text("SELECT id, published_at IS NOT NULL FROM outbox"))
        ).all()
    assert {row[0]: row[1] for row in rows if row[0] in ids} == dict.fromkeys(ids, True)


# -- the inbox -------------------------------------------------------------------------


async def test_a_redelivered_event_has_its_effect_once(rig):
    [event_id] = await rig.publish(1)
    await rig.relay().relay_once()
    [message] = await rig.stream_messages()
    # The same event arrives again as a new message (say, republished after the window).
    await rig.js.publish(
        subject_for(rig.prefix, EVENT), message.data, headers={"Nats-Msg-Id": "another-id"}
    )
    consumer = rig.consumer(record_effect)
    rig.run(consumer)

    async def both_seen() -> bool:
        outcomes = rig.outcomes()
        return outcomes.get("processed") == 1 and outcomes.get("duplicate") == 1

    await eventually(both_seen, "the duplicate was not recognised")
    assert await rig.effects() == {event_id: 1}


async def test_an_ack_lost_after_commit_is_redelivered_without_a_second_effect(rig, monkeypatch):
    [event_id] = await rig.publish(1)
    await rig.relay().relay_once()
    real_ack = Msg.ack
    lost = 0

    async def ack_lost_once(message: Msg) -> None:
        nonlocal lost
        if lost == 0:
            lost += 1
            raise ConnectionError("connection to NATS lost before the ack went out")
        await real_ack(message)

    monkeypatch.setattr(Msg, "ack", ack_lost_once)
    consumer = rig.consumer(record_effect, ack_wait=1.0)
    task = rig.run(consumer)

    async def acked_as_duplicate() -> bool:
        return rig.outcomes().get("duplicate") == 1

    await eventually(acked_as_duplicate, "the redelivery never came or was not recognised")
    assert not task.done(), "the consumer loop died on a failed ack"
    assert await rig.effects() == {event_id: 1}


async def test_a_failing_handler_is_retried_until_it_succeeds(rig):
    attempts = 0

    async def flaky(event: Event, uow: UnitOfWork) -> None:
        nonlocal attempts
        attempts += 1
        await record_effect(event, uow)  # written, then rolled back with the failure
        if attempts < 3:
            raise RuntimeError("downstream hiccup")

    [event_id] = await rig.publish(1)
    await rig.relay().relay_once()
    rig.run(rig.consumer(flaky))

    async def processed() -> bool:
        return rig.outcomes().get("processed") == 1

    await eventually(processed, "the handler never succeeded")
    assert attempts == 3
    assert rig.outcomes()["retried"] == 2
    assert await rig.effects() == {event_id: 1}


async def test_a_handler_failing_every_time_is_given_up_after_max_deliver(rig):
    attempts = 0

    async def broken(event: Event, uow: UnitOfWork) -> None:
        nonlocal attempts
        attempts += 1
        raise RuntimeError("always")

    await rig.publish(1)
    await rig.relay().relay_once()
    consumer = rig.consumer(broken, max_deliver=2)
    rig.run(consumer)

    async def failed() -> bool:
        return rig.outcomes().get("failed") == 1

    await eventually(failed, "the event was never given up")
    assert attempts == 2
    assert await rig.effects() == {}


async def test_a_malformed_message_is_refused_before_any_handler_kept_and_not_retried(rig):
    subject = subject_for(rig.prefix, EVENT)
    [valid] = await rig.publish(1)
    await rig.relay().relay_once()
    [message] = await rig.stream_messages()
    envelope = orjson.loads(message.data)
    breaking = {**envelope, "id": str(uuid.uuid4()), "data": {"n": "not a number"}}
    future = {**envelope, "id": str(uuid.uuid4()), "schema_version": 2}
    await rig.js.publish(subject, b"this is not an envelope")
    await rig.js.publish(subject, orjson.dumps({"id": "not-a-uuid", "type": EVENT}))
    await rig.js.publish(subject, orjson.dumps(breaking))
    await rig.js.publish(subject, orjson.dumps(future))
    handled: list[uuid.UUID] = []

    async def handler(event: Event[Registered], uow: UnitOfWork) -> None:
        handled.append(event.id)
        await record_effect(event, uow)

    consumer = rig.consumer(handler)
    rig.run(consumer)

    async def all_handled() -> bool:
        outcomes = rig.outcomes()
        return outcomes.get("malformed") == 4 and outcomes.get("processed") == 1

    await eventually(all_handled, "the messages were not all handled")
    info = await rig.js.consumer_info(stream_name(rig.prefix), consumer.durable_name)
    assert info.num_ack_pending == 0
    assert info.num_pending == 0
    assert info.num_redelivered == 0
    assert handled == [valid]
    assert await rig.effects() == {valid: 1}
    async with rig.database.sessionmaker() as session:
        inbox = list(await session.scalars(text("SELECT event_id FROM inbox")))
        kept = (
            await session.execute(
                text(
                    "SELECT subject, event_id, type, raw, error, received_at IS NOT NULL "
                    "FROM dead_letters ORDER BY stream_sequence"
                )
            )
        ).all()
    assert inbox == [valid]
    assert [row.raw for row in kept] == [
        b"this is not an envelope",
        orjson.dumps({"id": "not-a-uuid", "type": EVENT}),
        orjson.dumps(breaking),
        orjson.dumps(future),
    ]
    assert {row.subject for row in kept} == {subject}
    assert [row.event_id for row in kept] == [None, "not-a-uuid", breaking["id"], future["id"]]
    assert [row.type for row in kept] == [None, EVENT, EVENT, EVENT]
    assert "not an event envelope" in kept[0].error
    assert "breaks its contract" in kept[2].error
    assert "v2" in kept[3].error
    assert all(row[5] for row in kept)


async def test_the_handler_gets_the_payload_as_its_contract_model(rig):
    [event_id] = await rig.publish(1, n=7)
    await rig.relay().relay_once()
    seen: list[Event[Registered]] = []

    async def handler(event: Event[Registered], uow: UnitOfWork) -> None:
        seen.append(event)
        await record_effect(event, uow)

    rig.run(rig.consumer(handler))

    async def handled() -> bool:
        return await rig.effects() == {event_id: 1}

    await eventually(handled, "the event was not handled")
    [event] = seen
    assert event.payload == Registered(n=7)
    assert event.payload.n == 7
    assert event.data == {"n": 7, "email": None}


def test_a_consumer_refuses_to_handle_an_event_without_a_contract(rig):
    with pytest.raises(ValueError, match="without a contract"):
        InboxConsumer(
            service="user",
            database=rig.database,
            js=rig.js,
            prefix=rig.prefix,
            handlers={"user.vanished": record_effect},
            models=MODELS,
            metrics=rig.metrics,
        )


async def test_the_ack_comes_only_after_the_commit(rig):
    [event_id] = await rig.publish(1)
    await rig.relay().relay_once()
    inside = asyncio.Event()
    hang = asyncio.Event()

    async def stuck(event: Event, uow: UnitOfWork) -> None:
        await record_effect(event, uow)
        inside.set()
        await hang.wait()  # the process dies here

    first = rig.consumer(stuck)
    task = rig.run(first)
    async with asyncio.timeout(SETTLE):
        await inside.wait()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await first.close()
    assert await rig.effects() == {}

    rig.run(rig.consumer(record_effect))

    async def redelivered() -> bool:
        return await rig.effects() == {event_id: 1}

    await eventually(redelivered, "the unacknowledged event was not redelivered")


# -- the whole bus ---------------------------------------------------------------------


async def test_an_event_bus_relays_and_consumes_end_to_end(rig, engines):
    seen: list[Event] = []

    async def handler(event: Event, uow: UnitOfWork) -> None:
        seen.append(event)
        await record_effect(event, uow)

    bus = EventBus(
        service="user",
        url=engines.nats_url,
        prefix=rig.prefix,
        database=rig.database,
        metrics=Metrics("user", version="1", commit="c", env="dev"),
        publishes=True,
        handlers={EVENT: handler},
        models=MODELS,
    )
    await bus.start()
    try:
        await bus.check()
        [event_id] = await rig.publish(1, email="ada@example.com")

        async def consumed() -> bool:
            return await rig.effects() == {event_id: 1}

        await eventually(consumed, "the event did not travel through the bus")
        assert seen[0].payload == Registered(email="ada@example.com")
    finally:
        await bus.stop()
    with pytest.raises(ConnectionError):
        await bus.check()


async def test_the_trace_and_request_id_travel_with_the_event(rig):
    parent = TraceContext.new()
    token = request_id_var.set("req-from-auth")
    try:
        with in_trace(parent):
            [event_id] = await rig.publish(1)
    finally:
        request_id_var.reset(token)
    await rig.relay().relay_once()
    seen: list[tuple[TraceContext | None, str | None]] = []

    async def handler(event: Event, uow: UnitOfWork) -> None:
        seen.append((current_trace(), current_request_id()))
        await record_effect(event, uow)

    rig.run(rig.consumer(handler))

    async def handled() -> bool:
        return await rig.effects() == {event_id: 1}

    await eventually(handled, "the event was not handled")
    [(trace, request_id)] = seen
    assert trace is not None
    assert trace.trace_id == parent.trace_id
    assert trace.span_id != parent.span_id
    assert request_id == "req-from-auth"
