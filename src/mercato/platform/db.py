"""PostgreSQL through SQLAlchemy 2 async and asyncpg; the unit of work.

Each service owns one database. Its models subclass a declarative base made by
:func:`declarative_base`, which also carries the event tables (outbox, inbox, dead
letters: :mod:`mercato.platform.envelope`), so a use case writes its change and its
events in one transaction.

A pooled connection is not pinged on checkout (a round trip per request): one the server
closed is replaced when the pool hands it out (asyncpg sees the server hang up), and the
first statement of a unit of work that fails because its connection died is run once more
on a fresh one (nothing of the unit has run yet, so nothing can be repeated). Reads that
need neither a transaction nor a write use :meth:`Database.reader` (ADR 0037).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self

import asyncpg
import orjson
from opentelemetry.trace import SpanKind
from sqlalchemy import MetaData, event, text
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.engine import CursorResult, make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, ORMExecuteState, Session, SessionTransactionOrigin
from sqlalchemy.pool import AsyncAdaptedQueuePool, ConnectionPoolEntry
from sqlalchemy.sql import ClauseElement, Executable

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
            # Opened as needed up to ``pool_size + max_overflow`` and all kept: a pool that
            # closes its overflow connections on return opens one (TCP, TLS attempt,
            # startup, type introspection, statements prepared again) for every request
            # beyond the ``pool_size``-th concurrent one, ~10 % of a product read at 8
            # concurrent requests (docs/BENCHMARKS.md "Catalog browse", ADR 0037).
            pool_size=pool_size + max_overflow,
            max_overflow=0,
            pool_timeout=pool_timeout,
            # No pre-ping: see the module's docstring. Recycling bounds a connection's age
            # (server-side idle timeouts, load balancers that forget quiet flows).
            pool_recycle=POOL_RECYCLE_SECONDS,
            echo=echo,
            # asyncpg's own bounds: on a statement, and on opening a connection.
            connect_args=(
                {"command_timeout": command_timeout, "timeout": command_timeout}
                if command_timeout
                else {}
            ),
        )
        event.listen(self.engine.sync_engine, "checkout", _refuse_closed_connection)
        self.sessionmaker = async_sessionmaker(
            self.engine, expire_on_commit=False, sync_session_class=_RetryingSession
        )
        # The same pool, its connections in autocommit while a reader holds them.
        self.read_engine: AsyncEngine = self.engine.execution_options(isolation_level="AUTOCOMMIT")
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

    def reader(self) -> Reader:
        """A new, not yet started, read-only unit: no BEGIN, no ROLLBACK (see :class:`Reader`)."""
        return Reader(self)


POOL_RECYCLE_SECONDS = 1800


def _refuse_closed_connection(
    dbapi_connection: Any, record: ConnectionPoolEntry, proxy: Any
) -> None:
    """Makes the pool replace a connection the server has closed (no round trip).

    asyncpg notices the server hanging up (a restart, ``pg_terminate_backend``, an idle
    timeout) as soon as the event loop reads the socket, which it does while the
    connection sits in the pool; raising DisconnectionError here makes the pool drop it
    and check out another (a new one if need be).
    """
    driver = record.driver_connection
    if driver is not None and driver.is_closed():
        raise DisconnectionError("the server closed this pooled connection")


_STATEMENT_RAN = "mercato.statement_ran"


async def _driver_fetch(driver: Any, sql: str, arguments: list[Any]) -> list[Any]:
    """``driver.fetch``, its errors raised as SQLAlchemy's (as a statement through
    SQLAlchemy raises them), so the chassis' handlers judge both alike: a closed
    connection is an InterfaceError, a server error carries its SQLSTATE in ``orig``."""
    try:
        return list(await driver.fetch(sql, *arguments))
    except asyncpg.InterfaceError as error:
        raise InterfaceError(sql, None, error, connection_invalidated=True) from error
    except asyncpg.PostgresError as error:
        raise DBAPIError(sql, None, error, connection_invalidated=driver.is_closed()) from error


class _RetryingSession(Session):
    """A session whose first statement runs once more if its connection turns out dead."""


@event.listens_for(_RetryingSession, "do_orm_execute")
def _retry_first_statement_on_dead_connection(state: ORMExecuteState) -> Any:
    """Runs the session's first statement again on a new connection if the pooled one died.

    Only the first statement, only with nothing pending to flush, and only in the
    transaction the session began by itself (a unit of work's): no statement of the
    session has run, so its transaction held nothing, and the server rolled back whatever
    the dead connection had begun. A later statement's failure reaches the caller.
    """
    session = state.session
    if session.info.get(_STATEMENT_RAN):
        return None
    session.info[_STATEMENT_RAN] = True
    if session.new or session.dirty or session.deleted:
        return None
    transaction = session.get_transaction()
    if transaction is not None and transaction.origin is not SessionTransactionOrigin.AUTOBEGIN:
        # An explicit ``session.begin()`` block cannot go on in a new transaction: the
        # error reaches its caller (the relay and consumer loops try again on their own).
        return None
    try:
        return state.invoke_statement()
    except DBAPIError as error:
        if not error.connection_invalidated:
            raise
    session.rollback()
    return state.invoke_statement()


class Prepared:
    """A SELECT compiled once for asyncpg, run by :meth:`Reader.fetch` (no SQLAlchemy per call).

    For the hottest reads: building, compiling and processing a statement through
    SQLAlchemy costs more CPU than PostgreSQL spends answering it. The statement's bound
    parameters (``bindparam("name")``) are given by name to :meth:`Reader.fetch`; rows
    come back as asyncpg records, their values as asyncpg decodes them (json and jsonb
    as Python objects, uuids as ``uuid.UUID`` instances).
    """

    __slots__ = ("defaults", "names", "sql")

    def __init__(self, statement: ClauseElement) -> None:
        if not getattr(statement, "is_select", False):
            raise TypeError("a reader runs SELECT statements only")
        compiled = statement.compile(dialect=_ASYNCPG_DIALECT)
        self.sql: str = compiled.string
        # The order of the $n placeholders (each name once, however often it occurs).
        self.names: tuple[str, ...] = tuple(getattr(compiled, "positiontup", None) or ())
        # Values bound when the statement was built (``literal()``, ``== "ready"``).
        self.defaults: dict[str, Any] = dict(compiled.params)

    def arguments(self, values: Mapping[str, Any]) -> list[Any]:
        """The positional arguments of the statement, from its parameters by name."""
        defaults = self.defaults
        return [values[name] if name in values else defaults[name] for name in self.names]


_ASYNCPG_DIALECT = asyncpg_dialect()  # type: ignore[no-untyped-call]


class Reader:
    """A read-only unit of work without a transaction: ``async with database.reader() as r``.

    Its statements run on a pooled connection in autocommit, so a read costs its own round
    trip and no BEGIN or ROLLBACK. Each statement sees its own snapshot: use it for what
    one statement answers (several statements are not consistent with each other), and
    only for reads (it refuses anything but a SELECT). asyncpg's bound on a statement (the
    settings' ``db_command_timeout_seconds``) holds as in a unit of work, and a first
    statement that finds its connection dead runs once more on a fresh one.
    """

    def __init__(self, database: Database) -> None:
        self._engine = database.read_engine
        self._connection: AsyncConnection | None = None
        self._ran = False

    async def __aenter__(self) -> Self:
        self._connection = await self._engine.connect()
        self._ran = False
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            await asyncio.shield(connection.close())

    async def execute(
        self, statement: Executable, parameters: Mapping[str, Any] | None = None
    ) -> CursorResult[Any]:
        """Runs the SELECT ``statement``; its rows, fetched."""
        connection = self._connection
        if connection is None:
            raise RuntimeError("the reader is not open: use 'async with database.reader():'")
        if not getattr(statement, "is_select", False):
            raise TypeError("a reader runs SELECT statements only")
        if self._ran:
            return await connection.execute(statement, parameters)
        self._ran = True
        try:
            return await connection.execute(statement, parameters)
        except DBAPIError as error:
            if not error.connection_invalidated:
                raise
        # The dead connection is invalidated; rolling back the (empty) transaction lets
        # the connection reconnect from the pool on the next statement.
        await connection.rollback()
        return await connection.execute(statement, parameters)

    async def fetch(self, prepared: Prepared, values: Mapping[str, Any]) -> list[Any]:
        """Runs ``prepared`` with its parameters ``values`` straight on asyncpg; its records.

        asyncpg prepares the statement once per connection (its statement cache) and binds
        the arguments in binary; the command timeout is the connection's, as for
        :meth:`execute`.
        """
        connection = self._connection
        if connection is None:
            raise RuntimeError("the reader is not open: use 'async with database.reader():'")
        arguments = prepared.arguments(values)
        raw = await connection.get_raw_connection()
        driver: Any = raw.driver_connection
        if self._ran:
            return await _driver_fetch(driver, prepared.sql, arguments)
        self._ran = True
        try:
            return await _driver_fetch(driver, prepared.sql, arguments)
        except (DBAPIError, OSError):
            if not driver.is_closed():
                raise
        await connection.invalidate()
        await connection.rollback()
        raw = await connection.get_raw_connection()
        return await _driver_fetch(raw.driver_connection, prepared.sql, arguments)


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
