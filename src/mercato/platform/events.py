"""Events over NATS JetStream: the outbox relay and idempotent inbox consumers.

A producer writes events to its outbox table in the same transaction as the change
(:meth:`UnitOfWork.publish`). The relay publishes them with ``Nats-Msg-Id`` = event id,
so the broker drops a republish after a crash. A consumer records each event id in its
inbox table inside the transaction of its handler, so a redelivery never repeats an
effect. Messages are acknowledged only after that transaction commits. A message that is no
envelope, or whose payload breaks its type's contract, is refused before any handler runs:
counted, kept in the consumer's ``dead_letters`` table and terminated.

The trace context of the request that wrote an event travels in the envelope and in
the message's ``traceparent`` header: the relay's send span and the consumer's process
span are children of the producer span, so an event's effects join the request's trace.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from typing import Any

import nats
import orjson
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError
from opentelemetry.trace import SpanKind
from sqlalchemy import text

from mercato.platform.context import request_id_var
from mercato.platform.db import Database, UnitOfWork, utcnow
from mercato.platform.envelope import Event, EventModels, MalformedEvent, open_envelope
from mercato.platform.metrics import Metrics
from mercato.platform.tracing import OFF, Tracing, extract, fail

log = logging.getLogger("mercato.events")

STREAM_MAX_AGE = timedelta(days=7)
DUPLICATE_WINDOW = timedelta(minutes=10)
OUTBOX_RETENTION = timedelta(days=7)


# A handler gets the event with its payload parsed into the contract of its type.
Handler = Callable[[Event[Any], UnitOfWork], Awaitable[None]]


def stream_name(prefix: str) -> str:
    """The JetStream stream holding every event of a deployment."""
    return f"{prefix}_events".upper().replace(".", "_").replace("-", "_")


def subject_for(prefix: str, event_type: str) -> str:
    """The NATS subject an event type is published on."""
    return f"{prefix}.events.{event_type}"


async def ensure_stream(js: JetStreamContext, prefix: str, *, replicas: int = 1) -> None:
    """Creates the events stream, or brings its configuration up to date."""
    config = StreamConfig(
        name=stream_name(prefix),
        subjects=[f"{prefix}.events.>"],
        storage=StorageType.FILE,
        num_replicas=replicas,
        max_age=STREAM_MAX_AGE.total_seconds(),
        duplicate_window=DUPLICATE_WINDOW.total_seconds(),
    )
    try:
        await js.stream_info(config.name or "")
    except NotFoundError:
        await js.add_stream(config)
    else:
        await js.update_stream(config)


class OutboxRelay:
    """Publishes committed outbox rows to JetStream, oldest first."""

    def __init__(
        self,
        *,
        database: Database,
        js: JetStreamContext,
        prefix: str,
        metrics: Metrics,
        batch_size: int = 100,
        poll_interval: float = 1.0,
        publish_timeout: float = 5.0,
        tracing: Tracing = OFF,
    ) -> None:
        self._database = database
        self._tracer = tracing.tracer
        self._js = js
        self._prefix = prefix
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._publish_timeout = publish_timeout
        self._wake = asyncio.Event()
        self._published = metrics.counter(
            "mercato_outbox_published_total", "Events relayed from the outbox.", ["type"]
        )
        self._failures = metrics.counter(
            "mercato_outbox_publish_failures_total", "Failed attempts to relay an event."
        )
        self._backlog = metrics.gauge(
            "mercato_outbox_backlog", "Events in the outbox not yet published."
        )
        self._oldest_age = metrics.gauge(
            "mercato_outbox_oldest_age_seconds", "Age of the oldest unpublished event."
        )
        database.on_commit_with_events.append(self._wake.set)

    def wake(self) -> None:
        """Asks the relay to look at the outbox now."""
        self._wake.set()

    async def run(self) -> None:
        """Relays until cancelled, waking on commits and on a timer."""
        failures = 0
        passes = 0
        while True:
            try:
                relayed = await self.relay_once()
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception:
                failures += 1
                self._failures.inc()
                log.warning("outbox relay pass failed", exc_info=True)
                await asyncio.sleep(min(30.0, 0.5 * 2**failures))
                continue
            passes += 1
            if passes % 20 == 1:
                await self._measure_backlog()
            if passes % 1000 == 1:
                await self._purge_published()
            if relayed == self._batch_size:
                continue
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll_interval)

    async def relay_once(self) -> int:
        """Publishes one batch of pending events; returns how many were published."""
        async with self._database.sessionmaker() as session, session.begin():
            rows = (
                await session.execute(
                    text(
                        "SELECT position, id, type, envelope FROM outbox "
                        "WHERE published_at IS NULL ORDER BY position "
                        "LIMIT :limit FOR UPDATE SKIP LOCKED"
                    ),
                    {"limit": self._batch_size},
                )
            ).all()
            done: list[int] = []
            failure: Exception | None = None
            for position, event_id, event_type, envelope in rows:
                headers = {"Nats-Msg-Id": str(event_id)}
                if envelope.get("traceparent"):
                    headers["traceparent"] = envelope["traceparent"]
                subject = subject_for(self._prefix, event_type)
                span = self._tracer.start_span(
                    f"send {event_type}",
                    context=extract(headers),
                    kind=SpanKind.CLIENT,
                    attributes=_messaging(subject, str(event_id), "send"),
                )
                try:
                    await self._js.publish(
                        subject,
                        orjson.dumps(envelope),
                        headers=headers,
                        timeout=self._publish_timeout,
                    )
                except Exception as exc:
                    fail(span, exc)
                    failure = exc
                    break
                finally:
                    span.end()
                done.append(position)
                self._published.labels(type=event_type).inc()
            # Mark what made it even when a later publish failed, and commit that before
            # raising (raising inside the block would roll the marks back); the rest waits.
            if done:
                await session.execute(
                    text("UPDATE outbox SET published_at = :now WHERE position = ANY(:done)"),
                    {"now": utcnow(), "done": done},
                )
        if failure is not None:
            raise failure
        return len(done)

    async def _measure_backlog(self) -> None:
        async with self._database.sessionmaker() as session:
            count, oldest = (
                await session.execute(
                    text("SELECT count(*), min(created_at) FROM outbox WHERE published_at IS NULL")
                )
            ).one()
        self._backlog.set(count)
        self._oldest_age.set((utcnow() - oldest).total_seconds() if oldest else 0)

    async def _purge_published(self) -> None:
        async with self._database.sessionmaker() as session, session.begin():
            await session.execute(
                text("DELETE FROM outbox WHERE published_at < :cutoff"),
                {"cutoff": utcnow() - OUTBOX_RETENTION},
            )


class InboxConsumer:
    """A durable pull consumer that runs each event's handler exactly once."""

    def __init__(
        self,
        *,
        service: str,
        database: Database,
        js: JetStreamContext,
        prefix: str,
        handlers: Mapping[str, Handler],
        models: EventModels,
        metrics: Metrics,
        max_deliver: int = 10,
        ack_wait: float = 30.0,
        batch_size: int = 20,
        tracing: Tracing = OFF,
    ) -> None:
        self._service = service
        self._tracer = tracing.tracer
        self._database = database
        self._js = js
        self._prefix = prefix
        self._handlers = dict(handlers)
        missing = sorted(set(self._handlers) - set(models))
        if missing:
            raise ValueError(f"{service} handles events without a contract: {missing}")
        self._models = models
        self._max_deliver = max_deliver
        self._ack_wait = ack_wait
        self._batch_size = batch_size
        self._outcomes = metrics.counter(
            "mercato_events_consumed_total",
            "Events taken from the bus, by type and outcome "
            "(processed, duplicate, retried, failed, malformed).",
            ["type", "outcome"],
        )
        self._redelivered = metrics.counter(
            "mercato_events_redelivered_total", "Events delivered more than once.", ["type"]
        )
        self._pending = metrics.gauge(
            "mercato_events_consumer_pending", "Messages waiting on this service's consumer."
        )
        self._subscription: JetStreamContext.PullSubscription | None = None

    @property
    def durable_name(self) -> str:
        """The JetStream consumer's durable name."""
        return self._service

    async def setup(self) -> None:
        """Creates (or updates) the durable consumer and binds to it."""
        stream = stream_name(self._prefix)
        config = ConsumerConfig(
            durable_name=self.durable_name,
            filter_subjects=[subject_for(self._prefix, t) for t in sorted(self._handlers)],
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=self._ack_wait,
            max_deliver=self._max_deliver,
            max_ack_pending=1000,
        )
        await self._js.add_consumer(stream, config)
        self._subscription = await self._js.pull_subscribe_bind(
            durable=self.durable_name, stream=stream
        )

    async def run(self) -> None:
        """Fetches and handles events until cancelled."""
        if self._subscription is None:
            await self.setup()
        assert self._subscription is not None
        fetches = 0
        while True:
            try:
                messages = await self._subscription.fetch(self._batch_size, timeout=1.0)
            except TimeoutError:  # nats-py raises its own and the builtin one
                # nats-py may turn a cancellation during fetch into a timeout: honour it.
                if _cancelling():
                    raise asyncio.CancelledError from None
                messages = []
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("fetching events failed", exc_info=True)
                await asyncio.sleep(1.0)
                continue
            for message in messages:
                try:
                    await self.handle(message)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    # Typically the ack or nak could not be sent (NATS went away): the
                    # message comes back after ack_wait and the inbox absorbs the repeat.
                    # Letting it escape would end this loop for good.
                    log.warning("handling an event failed; it will be redelivered", exc_info=True)
            fetches += 1
            if fetches % 10 == 1:
                with contextlib.suppress(Exception):
                    info = await self._subscription.consumer_info()
                    self._pending.set(info.num_pending or 0)

    async def close(self) -> None:
        """Ends the pull subscription; a pending pull would hold ``drain()`` for 30 s."""
        if self._subscription is not None:
            with contextlib.suppress(Exception):
                await self._subscription.unsubscribe()
            self._subscription = None

    async def handle(self, message: Msg) -> None:
        """Runs the handler of one message in a transaction that also records it."""
        try:
            event = open_envelope(message.data, self._models)
        except MalformedEvent as exc:
            await self._refuse(message, exc)
            return
        deliveries = message.metadata.num_delivered or 1
        if deliveries > 1:
            self._redelivered.labels(type=event.type).inc()
        handler = self._handlers.get(event.type)
        # The header is the broker's copy of the envelope's context; either will do.
        traceparent = (message.headers or {}).get("traceparent") or event.traceparent
        attributes = _messaging(message.subject, str(event.id), "process")
        attributes["messaging.consumer.group.name"] = self.durable_name
        attributes["messaging.message.delivery_count"] = deliveries
        request_token = request_id_var.set(event.request_id)
        try:
            with self._tracer.start_as_current_span(
                f"process {event.type}",
                context=extract({"traceparent": traceparent} if traceparent else {}),
                kind=SpanKind.CONSUMER,
                attributes=attributes,
                record_exception=False,
                set_status_on_exception=False,
            ) as span:
                try:
                    outcome = await self._process(event, handler)
                except Exception as exc:
                    fail(span, exc)
                    await self._retry_or_give_up(message, event, deliveries, exc)
                    return
                span.set_attribute("mercato.event.outcome", outcome)
                self._outcomes.labels(type=event.type, outcome=outcome).inc()
                await message.ack()
        finally:
            request_id_var.reset(request_token)

    async def _refuse(self, message: Msg, exc: MalformedEvent) -> None:
        """Keeps a malformed message for inspection, counts it and terminates it."""
        event_id, event_type = _identity(message.data)
        log.error(
            "refusing a malformed event",
            extra={"subject": message.subject, "event_id": event_id, "error": str(exc)},
        )
        async with self._database.sessionmaker() as session, session.begin():
            await session.execute(
                text(
                    "INSERT INTO dead_letters "
                    "(stream_sequence, subject, event_id, type, raw, error, received_at) "
                    "VALUES (:sequence, :subject, :event_id, :type, :raw, :error, :now) "
                    "ON CONFLICT (stream_sequence) DO NOTHING"
                ),
                {
                    "sequence": message.metadata.sequence.stream,
                    "subject": message.subject,
                    "event_id": event_id,
                    "type": event_type,
                    "raw": message.data,
                    "error": str(exc)[:4000],
                    "now": utcnow(),
                },
            )
        # Only types of a contract become labels: a forged type must not grow the series.
        label = event_type if event_type is not None and event_type in self._models else "unknown"
        self._outcomes.labels(type=label, outcome="malformed").inc()
        await message.term()

    async def _retry_or_give_up(
        self, message: Msg, event: Event[Any], deliveries: int, exc: Exception
    ) -> None:
        if deliveries >= self._max_deliver:
            log.error(
                "event failed on its last delivery; giving up",
                exc_info=exc,
                extra={"event_id": str(event.id), "event_type": event.type},
            )
            self._outcomes.labels(type=event.type, outcome="failed").inc()
            await message.term()
        else:
            log.warning(
                "event handler failed; will retry",
                exc_info=exc,
                extra={"event_id": str(event.id), "deliveries": deliveries},
            )
            self._outcomes.labels(type=event.type, outcome="retried").inc()
            await message.nak(delay=min(60.0, 0.5 * 2**deliveries))

    async def _process(self, event: Event[Any], handler: Handler | None) -> str:
        async with self._database.unit_of_work() as uow:
            first_time = (
                await uow.session.execute(
                    text(
                        "INSERT INTO inbox (event_id, type, processed_at) "
                        "VALUES (:id, :type, :now) ON CONFLICT DO NOTHING RETURNING event_id"
                    ),
                    {"id": event.id, "type": event.type, "now": utcnow()},
                )
            ).first() is not None
            if not first_time:
                return "duplicate"
            if handler is not None:
                await handler(event, uow)
            await uow.commit()
        return "processed"


class EventBus:
    """The service's connection to NATS, its outbox relay and its inbox consumer."""

    def __init__(
        self,
        *,
        service: str,
        url: str,
        prefix: str,
        database: Database,
        metrics: Metrics,
        publishes: bool,
        handlers: Mapping[str, Handler],
        models: EventModels,
        tracing: Tracing = OFF,
        stream_replicas: int = 1,
    ) -> None:
        self.service = service
        self.stream_replicas = stream_replicas
        self._tracing = tracing
        self.url = url
        self.prefix = prefix
        self._database = database
        self._metrics = metrics
        self._publishes = publishes
        self._handlers = handlers
        self._models = models
        self.nc: NatsClient | None = None
        self.relay: OutboxRelay | None = None
        self.consumer: InboxConsumer | None = None
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def js(self) -> JetStreamContext:
        """The JetStream context of the open connection."""
        if self.nc is None:
            raise RuntimeError("the event bus is not started")
        return self.nc.jetstream()

    async def start(self) -> None:
        """Connects, makes sure the stream exists, starts relay and consumer."""
        self.nc = await nats.connect(
            self.url,
            name=self.service,
            max_reconnect_attempts=-1,
            reconnect_time_wait=1,
            connect_timeout=2,
            allow_reconnect=True,
        )
        await ensure_stream(self.js, self.prefix, replicas=self.stream_replicas)
        if self._publishes:
            self.relay = OutboxRelay(
                database=self._database,
                js=self.js,
                prefix=self.prefix,
                metrics=self._metrics,
                tracing=self._tracing,
            )
            self._tasks.append(asyncio.create_task(self.relay.run(), name="outbox-relay"))
        if self._handlers:
            self.consumer = InboxConsumer(
                service=self.service,
                database=self._database,
                js=self.js,
                prefix=self.prefix,
                handlers=self._handlers,
                models=self._models,
                metrics=self._metrics,
                tracing=self._tracing,
            )
            await self.consumer.setup()
            self._tasks.append(asyncio.create_task(self.consumer.run(), name="inbox-consumer"))

    async def stop(self) -> None:
        """Stops relay and consumer, then closes the connection."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        if self.consumer is not None:
            await self.consumer.close()
        if self.nc is not None:
            with contextlib.suppress(Exception):
                await self.nc.drain()
            self.nc = None

    async def check(self) -> None:
        """Raises unless connected to NATS."""
        if self.nc is None or not self.nc.is_connected:
            raise ConnectionError("not connected to NATS")


def _messaging(subject: str, message_id: str, operation: str) -> dict[str, str | int]:
    """Semantic attributes of a messaging span."""
    return {
        "messaging.system": "nats",
        "messaging.destination.name": subject,
        "messaging.message.id": message_id,
        "messaging.operation.type": operation,
    }


def _identity(raw: bytes) -> tuple[str | None, str | None]:
    """The id and type a refused message claims, when it claims any (for the record)."""
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None, None
    if not isinstance(doc, dict):
        return None, None
    event_id, event_type = doc.get("id"), doc.get("type")
    return (
        str(event_id)[:100] if event_id is not None else None,
        str(event_type)[:200] if event_type is not None else None,
    )


def _cancelling() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
