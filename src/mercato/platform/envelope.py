"""The event envelope and the tables events pass through: outbox, inbox and dead letters.

This module is the one place that knows what an event looks like on the wire and in the
database. A producer's unit of work seals a payload into an envelope
(:func:`seal`); a consumer opens it again (:func:`open_envelope`) into an
:class:`Event` carrying the payload as its contract's model. A payload is an
:class:`EventPayload`: a pydantic model naming its event type and its schema version, so
the envelope's ``schema_version`` always comes from the model.

Tables: ``outbox`` (events written in the transaction of the change, relayed later),
``inbox`` (ids of the events a consumer has applied, so a redelivery applies nothing) and
``dead_letters`` (messages a consumer refused as malformed, kept for inspection).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, ClassVar, Generic, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict, ValidationError
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    Index,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class EventPayload(BaseModel):
    """The data of one event type, at one schema version.

    Fields a consumer does not know are ignored rather than refused: a producer may add an
    optional field (a compatible change, see ``docs/contracts/``) before its consumers learn it.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    event_type: ClassVar[str]
    version: ClassVar[int] = 1


P = TypeVar("P")
EventModels = Mapping[str, type[EventPayload]]


class MalformedEvent(ValueError):
    """A message that is not an event envelope, or whose payload breaks its contract."""


@dataclass(frozen=True)
class Event(Generic[P]):
    """The envelope every event travels in, with its payload parsed into ``payload``.

    ``data`` is the payload as it arrived (JSON); ``payload`` is the contract's model once
    the consumer has opened the envelope (:func:`open_envelope`).
    """

    id: uuid.UUID
    type: str
    source: str
    time: datetime
    subject: str
    data: dict[str, Any]
    payload: P
    traceparent: str | None = None
    request_id: str | None = None
    schema_version: int = EventPayload.version
    # Who caused the event: the subject of the token of the request that wrote it.
    actor: str | None = None

    @classmethod
    def from_json(cls, raw: bytes) -> Event[dict[str, Any]]:
        """Parses an envelope, leaving its payload as JSON; raises MalformedEvent otherwise."""
        try:
            doc = orjson.loads(raw)
            data = dict(doc["data"])
            return Event(
                id=uuid.UUID(doc["id"]),
                type=str(doc["type"]),
                source=str(doc["source"]),
                time=datetime.fromisoformat(doc["time"]),
                subject=str(doc["subject"]),
                data=data,
                payload=data,
                traceparent=doc.get("traceparent"),
                request_id=doc.get("request_id"),
                actor=doc.get("actor"),
                schema_version=int(doc.get("schema_version", EventPayload.version)),
            )
        except (KeyError, TypeError, ValueError, orjson.JSONDecodeError) as exc:
            raise MalformedEvent(f"not an event envelope: {exc}") from exc


def open_envelope(raw: bytes, models: EventModels) -> Event[Any]:
    """The event in ``raw`` with its payload parsed by its contract.

    Raises MalformedEvent when ``raw`` is no envelope, or when its payload does not satisfy
    the contract of its type; an event type without a contract keeps its JSON payload.
    """
    event = Event.from_json(raw)
    model = models.get(event.type)
    if model is None:
        return event
    if event.schema_version != model.version:
        raise MalformedEvent(
            f"{event.type} v{event.schema_version} is not the version this consumer "
            f"reads (v{model.version})"
        )
    try:
        payload = model.model_validate(event.data)
    except ValidationError as exc:
        raise MalformedEvent(f"{event.type} breaks its contract: {exc}") from exc
    typed: Event[Any] = event
    return replace(typed, payload=payload)


def seal(
    payload: EventPayload,
    *,
    event_id: uuid.UUID,
    time: datetime,
    subject: str,
    source: str,
    traceparent: str | None,
    request_id: str | None,
    actor: str | None = None,
) -> dict[str, Any]:
    """The envelope of ``payload``, as the outbox stores it and the relay sends it."""
    return {
        "id": str(event_id),
        "type": payload.event_type,
        "source": source,
        "time": time.isoformat(),
        "subject": subject,
        "data": payload.model_dump(mode="json"),
        "traceparent": traceparent,
        "request_id": request_id,
        "actor": actor,
        "schema_version": payload.version,
    }


# -- the tables ------------------------------------------------------------------------


def add_outbox_and_inbox(metadata: MetaData) -> tuple[Table, Table]:
    """Declares the outbox and inbox tables in ``metadata``."""
    outbox = Table(
        "outbox",
        metadata,
        Column("position", BigInteger, Identity(always=True), primary_key=True),
        Column("id", UUID(as_uuid=True), nullable=False, unique=True),
        Column("type", String(200), nullable=False),
        Column("subject", String(200), nullable=False),
        Column("envelope", JSONB, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("published_at", DateTime(timezone=True)),
        Index(
            "ix_outbox_unpublished",
            "position",
            postgresql_where=text("published_at IS NULL"),
        ),
    )
    inbox = Table(
        "inbox",
        metadata,
        Column("event_id", UUID(as_uuid=True), primary_key=True),
        Column("type", String(200), nullable=False),
        Column("processed_at", DateTime(timezone=True), nullable=False),
    )
    return outbox, inbox


def add_dead_letters(metadata: MetaData) -> Table:
    """Declares the table of refused messages in ``metadata``.

    A message is kept as it arrived (bytes: it may not even be UTF-8), with its NATS subject
    and why it was refused. The stream sequence makes keeping it idempotent: a message
    redelivered before its termination reached the broker is kept once.
    """
    return Table(
        "dead_letters",
        metadata,
        Column("id", BigInteger, Identity(always=True), primary_key=True),
        Column("stream_sequence", BigInteger, nullable=False, unique=True),
        Column("subject", String(300), nullable=False),
        Column("event_id", String(100)),
        Column("type", String(200)),
        Column("raw", LargeBinary, nullable=False),
        Column("error", Text, nullable=False),
        Column("received_at", DateTime(timezone=True), nullable=False),
    )


def event_tables() -> MetaData:
    """A MetaData with the house naming convention holding the three event tables."""
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    add_outbox_and_inbox(metadata)
    add_dead_letters(metadata)
    return metadata
