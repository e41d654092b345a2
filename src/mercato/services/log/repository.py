"""Queries of the log database."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from mercato.services.log.models import AuditChainHead, AuditRecord, LogRecord

HEAD_ID = 1


@dataclass(frozen=True)
class LogFilter:
    """What a search of the logs asks for; ``None`` leaves a filter out."""

    service: str | None = None
    min_severity: int | None = None
    request_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    q: str | None = None


@dataclass(frozen=True)
class AuditFilter:
    """What a search of the audit trail asks for."""

    actor: str | None = None
    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None


async def add_log_records(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Stores shipped log records, in one statement."""
    if rows:
        await session.execute(insert(LogRecord), list(rows))


async def log_records_page(
    session: AsyncSession,
    wanted: LogFilter,
    *,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None,
) -> list[LogRecord]:
    """Log records matching ``wanted``, newest first."""
    query = select(LogRecord).order_by(LogRecord.at.desc(), LogRecord.id.desc()).limit(limit)
    if wanted.service is not None:
        query = query.where(LogRecord.service == wanted.service)
    if wanted.min_severity is not None:
        query = query.where(LogRecord.severity >= wanted.min_severity)
    if wanted.request_id is not None:
        query = query.where(LogRecord.request_id == wanted.request_id)
    if wanted.since is not None:
        query = query.where(LogRecord.at >= wanted.since)
    if wanted.until is not None:
        query = query.where(LogRecord.at < wanted.until)
    if wanted.q:
        query = query.where(
            LogRecord.search.bool_op("@@")(func.websearch_to_tsquery("simple", wanted.q))
        )
    if after is not None:
        query = query.where(tuple_(LogRecord.at, LogRecord.id) < tuple_(*after))
    return list((await session.scalars(query)).all())


async def delete_log_records_before(session: AsyncSession, cutoff: datetime, limit: int) -> int:
    """Deletes up to ``limit`` log records older than ``cutoff``; how many went."""
    oldest = select(LogRecord.id).where(LogRecord.at < cutoff).limit(limit).scalar_subquery()
    result = await session.execute(delete(LogRecord).where(LogRecord.id.in_(oldest)))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def chain_head_for_update(session: AsyncSession) -> AuditChainHead:
    """The chain's head, locked until the transaction ends: appends queue up behind it."""
    head = await session.get(AuditChainHead, HEAD_ID, with_for_update=True, populate_existing=True)
    assert head is not None, "the migration creates the chain's head"
    return head


async def chain_head(session: AsyncSession) -> AuditChainHead:
    """The chain's head as committed."""
    head = await session.get(AuditChainHead, HEAD_ID, populate_existing=True)
    assert head is not None, "the migration creates the chain's head"
    return head


async def audit_records_page(
    session: AsyncSession, wanted: AuditFilter, *, limit: int, before_seq: int | None
) -> list[AuditRecord]:
    """Audit records matching ``wanted``, newest first."""
    query = select(AuditRecord).order_by(AuditRecord.seq.desc()).limit(limit)
    if wanted.actor is not None:
        query = query.where(AuditRecord.actor == wanted.actor)
    if wanted.action is not None:
        query = query.where(AuditRecord.action == wanted.action)
    if wanted.since is not None:
        query = query.where(AuditRecord.at >= wanted.since)
    if wanted.until is not None:
        query = query.where(AuditRecord.at < wanted.until)
    if before_seq is not None:
        query = query.where(AuditRecord.seq < before_seq)
    return list((await session.scalars(query)).all())


async def audit_records_from(session: AsyncSession, seq: int, limit: int) -> list[AuditRecord]:
    """Up to ``limit`` audit records from ``seq`` on, in chain order."""
    query = select(AuditRecord).where(AuditRecord.seq >= seq).order_by(AuditRecord.seq).limit(limit)
    return list((await session.scalars(query)).all())
