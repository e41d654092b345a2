"""PostgreSQL through SQLAlchemy 2 async and asyncpg; the unit of work.

Each service owns one database. Its models subclass a declarative base made by
:func:`declarative_base`, which also carries the event tables (outbox, inbox, dead
letters: :mod:`mercato.platform.envelope`), so a use case writes its change and its
events in one transaction.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self

import orjson
from opentelemetry.trace import SpanKind
from sqlalchemy import MetaData, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.pool import AsyncAdaptedQueuePool

from mercato.platform.context import current_request_id, user_id_var
from mercato.platform.envelope import EventPayload, event_tables, seal
from mercato.platform.metrics import Metrics
from mercato.platform.tracing import OFF, Tracing, inject, trace_statements


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


def new_metadata() -> MetaData:
    """A MetaData with the house naming convention and the event tables."""
    return event_tables()


def declarative_base() -> type[DeclarativeBase]:
    """A fresh declarative base for one service's models."""

    class Base(DeclarativeBase):
        metadata = new_metadata()

    return Base


def with_database(url: str, database: str) -> str:
    """``url`` pointing at ``database`` instead of the one it names."""
    return make_url(url).set(database=database).render_as_string(hide_password=False)


def async_url(url: str) -> str:
    """``url`` with the asyncpg driver, whatever scheme it was given in."""
    parsed = make_url(url)
    return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


class Database:
    """The service's connection pool, with readiness and pool metrics."""

    def __init__(
        self,
        url: str,
        *,
        metrics: Metrics | None = None,
        pool_size: int = 5,
        max_overflow: int = 5,
        pool_timeout: float = 5.0,
        command_timeout: float | None = None,
        echo: bool = False,
        tracing: Tracing = OFF,
        source: str | None = None,
    ) -> None:
        # The service whose outbox this is: every event written here comes from it.
        self.source = source
        self.engine: AsyncEngine = create_async_engine(
            async_url(url),
            poolclass=_timed_pool(metrics, pool_size + max_overflow),
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_timeout=pool_timeout,
            pool_pre_ping=True,
            pool_recycle=1800,
            echo=echo,
            # asyncpg's own bounds: on a statement, and on opening a connection.
            connect_args=(
                {"command_timeout": command_timeout, "timeout": command_timeout}
                if command_timeout
                else {}
            ),
        )
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)
        self.tracer = tracing.tracer
        if tracing.enabled:
            trace_statements(self.engine.sync_engine, tracing.tracer)
        self.on_commit_with_events: list[Callable[[], None]] = []

    async def check(self) -> None:
        """Raises unless the database answers."""
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def close(self) -> None:
        """Closes every pooled connection."""
        await self.engine.dispose()

    def unit_of_work(self) -> UnitOfWork:
        """A new, not yet started, unit of work."""
        return UnitOfWork(self)


def _timed_pool(metrics: Metrics | None, capacity: int) -> type[AsyncAdaptedQueuePool]:
    """A pool class reporting its size, connections in use and time waited for one."""
    if metrics is None:
        return AsyncAdaptedQueuePool
    metrics.gauge("mercato_db_pool_size", "Connections the pool may hold.").set(capacity)
    in_use = metrics.gauge("mercato_db_pool_in_use", "Connections checked out of the pool.")
    wait = metrics.histogram(
        "mercato_db_pool_wait_seconds", "Time spent waiting for a pooled connection."
    )

    class TimedPool(AsyncAdaptedQueuePool):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            in_use.set_function(self.checkedout)

        def _do_get(self) -> Any:
            began = time.perf_counter()
            try:
                return super()._do_get()
            finally:
                wait.observe(time.perf_counter() - began)

    return TimedPool


class UnitOfWork:
    """One transaction: business changes and the events they cause commit together.

    ``async with uow:`` opens it; ``await uow.commit()`` makes it durable; leaving the
    block without committing rolls it back.
    """

    def __init__(self, database: Database) -> None:
        self._database = database
        self._session: AsyncSession | None = None
        self._events = 0

    @property
    def session(self) -> AsyncSession:
        """The session of the open transaction."""
        if self._session is None:
            raise RuntimeError("the unit of work is not open: use 'async with uow:'")
        return self._session

    async def __aenter__(self) -> Self:
        self._session = self._database.sessionmaker()
        self._events = 0
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        session, self._session = self._session, None
        if session is not None:
            await asyncio.shield(session.close())

    async def commit(self) -> None:
        """Commits the transaction; wakes the outbox relay when events were written."""
        await self.session.commit()
        if self._events:
            self._events = 0
            for wake in self._database.on_commit_with_events:
                wake()

    async def rollback(self) -> None:
        """Rolls the transaction back."""
        await self.session.rollback()
        self._events = 0

    async def publish(self, payload: EventPayload, *, subject: str | uuid.UUID) -> uuid.UUID:
        """Writes an event to the outbox, to be published once this transaction commits.

        ``uow.publish(OrderConfirmed(...), subject=order.id)``: the payload is the event's
        contract model, which names its type and version; the source is the database's.
        """
        source = self._database.source
        if source is None:
            raise RuntimeError("the database was made without the service publishing its events")
        event_id = uuid.uuid4()
        now = utcnow()
        event_type = payload.event_type
        # The producer span: its context travels in the envelope and the NATS headers, so
        # every consumer's span joins the trace of the request that caused the event.
        with self._database.tracer.start_as_current_span(
            f"create {event_type}",
            kind=SpanKind.PRODUCER,
            attributes={
                "messaging.system": "nats",
                "messaging.operation.type": "create",
                "messaging.message.id": str(event_id),
                "mercato.event.type": event_type,
            },
        ) as span:
            carrier: dict[str, str] = {}
            inject(carrier, span)
            envelope = seal(
                payload,
                event_id=event_id,
                time=now,
                subject=str(subject),
                source=source,
                traceparent=carrier.get("traceparent"),
                request_id=current_request_id(),
                actor=user_id_var.get(),
            )
            await self.session.execute(
                text(
                    "INSERT INTO outbox (id, type, subject, envelope, created_at) "
                    "VALUES (:id, :type, :subject, CAST(:envelope AS jsonb), :created_at)"
                ),
                {
                    "id": event_id,
                    "type": event_type,
                    "subject": str(subject),
                    "envelope": orjson.dumps(envelope).decode(),
                    "created_at": now,
                },
            )
        self._events += 1
        return event_id
