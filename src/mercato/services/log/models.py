"""log's tables: the services' log records, the audit trail and the head of its hash chain."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Computed,
    DateTime,
    Index,
    SmallInteger,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, TSVECTOR, UUID
from sqlalchemy.orm import Mapped, mapped_column

from mercato.platform.db import declarative_base

Base = declarative_base()

# What the full-text index covers: the message and the logger that wrote it.
LOG_SEARCH = "to_tsvector('simple', coalesce(message, '') || ' ' || coalesce(logger, ''))"
GENESIS_HASH = "0" * 64


class LogRecord(Base):
    """One structured log record shipped by a service."""

    __tablename__ = "log_records"
    __table_args__ = (
        Index("ix_log_records_at_id", "at", "id"),
        Index("ix_log_records_service_at", "service", "at"),
        Index("ix_log_records_severity_at", "severity", "at"),
        Index(
            "ix_log_records_request_id",
            "request_id",
            postgresql_where=text("request_id IS NOT NULL"),
        ),
        Index("ix_log_records_search", "search", postgresql_using="gin"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    service: Mapped[str] = mapped_column(String(64))
    level: Mapped[str] = mapped_column(String(16))
    # The OpenTelemetry severity number (1..24): "level=warning" means warning and worse.
    severity: Mapped[int] = mapped_column(SmallInteger)
    logger: Mapped[str | None] = mapped_column(String(200))
    message: Mapped[str] = mapped_column(Text)
    request_id: Mapped[str | None] = mapped_column(String(200))
    trace_id: Mapped[str | None] = mapped_column(String(32))
    user_id: Mapped[str | None] = mapped_column(String(100))
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONB)
    search: Mapped[Any] = mapped_column(TSVECTOR, Computed(LOG_SEARCH, persisted=True))


class AuditRecord(Base):
    """A security-relevant event, chained to the record before it by ``hash``.

    ``seq`` orders the chain; ``hash`` = SHA-256 of the previous record's hash and this
    record's canonical JSON (:func:`mercato.services.log.chain.record_hash`).
    """

    __tablename__ = "audit_records"
    __table_args__ = (
        Index("ix_audit_records_at_seq", "at", "seq"),
        Index("ix_audit_records_actor_seq", "actor", "seq"),
        Index("ix_audit_records_action_seq", "action", "seq"),
    )

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), unique=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str | None] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(100))
    subject: Mapped[str] = mapped_column(String(200))
    detail: Mapped[dict[str, Any]] = mapped_column(JSONB)
    hash: Mapped[str] = mapped_column(String(64))


class AuditChainHead(Base):
    """The one row naming the chain's last record: appends lock it, one at a time.

    It also lets verification see records removed from the end of the trail.
    """

    __tablename__ = "audit_chain_head"

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    length: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))
