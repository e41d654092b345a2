"""log's use cases: storing and searching shipped log records, and the audit trail.

The audit trail is append-only and hash-chained. An append locks the chain's head row, so
appends are serialized and each record's hash covers the one before it; a redelivered
event never gets here twice (the inbox records it in the same transaction).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from datetime import timedelta
from typing import Any

from mercato import catalog
from mercato.platform.db import UnitOfWork, utcnow
from mercato.platform.envelope import Event
from mercato.platform.errors import ValidationFailed
from mercato.platform.metrics import Labelled
from mercato.platform.pagination import InvalidCursor, PageRequest, created_before
from mercato.services.log import repository
from mercato.services.log.chain import Break, Link, Verifier, record_hash
from mercato.services.log.models import GENESIS_HASH, AuditRecord, LogRecord
from mercato.services.log.repository import AuditFilter, LogFilter
from mercato.services.log.settings import Settings

log = logging.getLogger("mercato.log")

# The events that become audit records (logins, role changes, refunds, cancellations,
# admins' product and stock changes, review moderation): what the catalog says log consumes.
AUDITED_EVENTS = catalog.get("log").consumes
VERIFY_BATCH = 1000
PURGE_BATCH = 5000


@dataclass(frozen=True)
class ChainReport:
    """The outcome of walking the audit trail."""

    valid: bool
    checked: int
    first_broken: Break | None


def _actor(event: Event[Any]) -> str | None:
    """The user behind an event: the payload's own ``actor``, else the token of its request.

    A login's user is behind it even though no token was presented.
    """
    named = event.data.get("actor")
    if named:
        return str(named)
    if event.actor:
        return event.actor
    if event.type == "auth.login_succeeded":
        return str(event.data["user_id"])
    return None


async def record_audit_event(event: Event[Any], uow: UnitOfWork) -> None:
    """Handles every audited event: appends it to the trail, chained to the last record."""
    head = await repository.chain_head_for_update(uow.session)
    link = Link(
        seq=head.length + 1,
        id=uuid.uuid4(),
        at=event.time,
        actor=_actor(event),
        action=event.type,
        subject=event.subject,
        detail={
            "event_id": str(event.id),
            "source": event.source,
            "request_id": event.request_id,
            "data": event.data,
        },
        hash="",
    )
    digest = record_hash(head.hash, link)
    uow.session.add(AuditRecord(**{**asdict(link), "hash": digest}))
    head.length, head.hash = link.seq, digest


def _link(record: AuditRecord) -> Link:
    return Link(**{f.name: getattr(record, f.name) for f in fields(Link)})


class AuditTrail:
    """Reading and verifying the audit trail."""

    def __init__(
        self,
        *,
        settings: Settings,
        unit_of_work: Callable[[], UnitOfWork],
        chain_valid: Labelled | None = None,
        chain_length: Labelled | None = None,
    ) -> None:
        self._settings = settings
        self._uow = unit_of_work
        self._chain_valid = chain_valid
        self._chain_length = chain_length

    async def records(self, wanted: AuditFilter, page: PageRequest) -> list[AuditRecord]:
        """Audit records matching ``wanted``, newest first, one more than the page holds."""
        before = _seq_cursor(page)
        async with self._uow() as uow:
            return await repository.audit_records_page(
                uow.session, wanted, limit=page.limit + 1, before_seq=before
            )

    async def verify(self) -> ChainReport:
        """Recomputes every hash from the first record on; names the first broken one."""
        async with self._uow() as uow:
            # One snapshot for the whole walk: appends committed meanwhile are not half-seen.
            await uow.session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
            head = await repository.chain_head(uow.session)
            verifier = Verifier(previous=GENESIS_HASH)
            while True:
                batch = await repository.audit_records_from(
                    uow.session, verifier.expected_seq, VERIFY_BATCH
                )
                if not verifier.feed(_link(r) for r in batch) or len(batch) < VERIFY_BATCH:
                    break
            broken = verifier.finish(length=head.length, head_hash=head.hash)
        report = ChainReport(valid=broken is None, checked=verifier.checked, first_broken=broken)
        if self._chain_valid is not None:
            self._chain_valid.set(1 if report.valid else 0)
        if self._chain_length is not None:
            self._chain_length.set(verifier.checked)
        if broken is not None:
            log.error(
                "the audit trail is broken",
                extra={"seq": broken.seq, "record_id": str(broken.id), "reason": broken.reason},
            )
        return report

    async def verify_forever(self) -> None:
        """The verification job: walks the chain on an interval and sets its gauge."""
        while True:
            await self.verify()
            await asyncio.sleep(self._settings.audit_verify_interval_seconds)


class LogStore:
    """Storing, searching and expiring the services' log records."""

    def __init__(
        self,
        *,
        settings: Settings,
        unit_of_work: Callable[[], UnitOfWork],
        stored: Labelled | None = None,
        purged: Labelled | None = None,
    ) -> None:
        self._settings = settings
        self._uow = unit_of_work
        self._stored = stored
        self._purged = purged

    async def ingest(self, rows: Sequence[dict[str, Any]]) -> int:
        """Stores a batch of shipped records; how many."""
        received = utcnow()
        async with self._uow() as uow:
            await repository.add_log_records(
                uow.session, [{**r, "id": uuid.uuid4(), "received_at": received} for r in rows]
            )
            await uow.commit()
        if self._stored is not None:
            self._stored.inc(len(rows))
        return len(rows)

    async def search(self, wanted: LogFilter, page: PageRequest) -> list[LogRecord]:
        """Log records matching ``wanted``, newest first, one more than the page holds."""
        if wanted.since and wanted.until and wanted.since >= wanted.until:
            raise ValidationFailed(
                "since must be before until.",
                errors=[{"loc": ["query", "since"], "msg": "not before until"}],
            )
        async with self._uow() as uow:
            return await repository.log_records_page(
                uow.session, wanted, limit=page.limit + 1, after=created_before(page)
            )

    async def purge_expired(self) -> int:
        """Deletes records older than the retention period, in batches; how many."""
        cutoff = utcnow() - timedelta(days=self._settings.log_retention_days)
        total = 0
        while True:
            async with self._uow() as uow:
                deleted = await repository.delete_log_records_before(
                    uow.session, cutoff, PURGE_BATCH
                )
                await uow.commit()
            total += deleted
            if deleted < PURGE_BATCH:
                break
        if self._purged is not None and total:
            self._purged.inc(total)
        return total

    async def purge_forever(self) -> None:
        """The retention job: purges expired records on an interval."""
        while True:
            await self.purge_expired()
            await asyncio.sleep(self._settings.log_purge_interval_seconds)


def _seq_cursor(page: PageRequest) -> int | None:
    if not page.after:
        return None
    try:
        return int(page.after[0])
    except (TypeError, ValueError):
        raise InvalidCursor() from None
