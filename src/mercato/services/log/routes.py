"""HTTP routes of log: the OTLP ingest, log search, the audit trail and its verification."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import AwareDatetime

from mercato.catalog import API_PREFIX
from mercato.platform.deps import Provided
from mercato.platform.pagination import Page, PageRequestDep, page_of
from mercato.platform.security import AdminUser
from mercato.services.log import otlp
from mercato.services.log.repository import AuditFilter, LogFilter
from mercato.services.log.schemas import (
    AuditRecordPublic,
    BrokenRecord,
    ChainVerification,
    LogEntryPublic,
)
from mercato.services.log.service import AuditTrail, LogStore

# OTLP/HTTP's own path, outside /api/v1: the gateway never routes it, NetworkPolicies let
# only the platform's pods reach it (ADR 0033).
INGEST_PATH = "/v1/logs"

router = APIRouter(tags=["log"])
Level = Literal["debug", "info", "warning", "error", "critical"]
# Times must say their offset (RFC 3339): a naive one would be read in no known zone.
Since = Annotated[AwareDatetime | None, Query()]


@router.post(INGEST_PATH, include_in_schema=False)
async def ingest_logs(request: Request, store: Provided[LogStore]) -> Response:
    """Stores an OTLP logs export request (JSON or protobuf) from a service."""
    content_type = request.headers.get("content-type", "application/json")
    await store.ingest(otlp.parse(await request.body(), content_type))
    if content_type.startswith(otlp.PROTOBUF):
        return Response(b"", media_type=otlp.PROTOBUF)  # an empty ExportLogsServiceResponse
    return Response(b"{}", media_type="application/json")


@router.get(f"{API_PREFIX}/logs")
async def search_logs(
    _: AdminUser,
    page: PageRequestDep,
    store: Provided[LogStore],
    service: Annotated[str | None, Query(max_length=64)] = None,
    level: Level | None = None,
    request_id: Annotated[str | None, Query(max_length=200)] = None,
    since: Since = None,
    until: Since = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
) -> Page[LogEntryPublic]:
    """Log records of every service, newest first; ``level`` means that level and worse."""
    wanted = LogFilter(
        service=service,
        min_severity=otlp.severity_of(level) if level else None,
        request_id=request_id,
        since=since,
        until=until,
        q=q,
    )
    rows = await store.search(wanted, page)
    return page_of(
        rows, page, LogEntryPublic.model_validate, key=lambda r: (r.at.isoformat(), str(r.id))
    )


@router.get(f"{API_PREFIX}/audit")
async def audit_records(
    _: AdminUser,
    page: PageRequestDep,
    trail: Provided[AuditTrail],
    actor: Annotated[str | None, Query(max_length=100)] = None,
    action: Annotated[str | None, Query(max_length=100)] = None,
    since: Since = None,
    until: Since = None,
) -> Page[AuditRecordPublic]:
    """Audit records, newest first."""
    wanted = AuditFilter(actor=actor, action=action, since=since, until=until)
    rows = await trail.records(wanted, page)
    return page_of(rows, page, AuditRecordPublic.model_validate, key=lambda r: (r.seq,))


@router.get(f"{API_PREFIX}/audit/verify")
async def verify_audit_trail(_: AdminUser, trail: Provided[AuditTrail]) -> ChainVerification:
    """Recomputes the hash chain; ``valid: false`` names the first broken record."""
    report = await trail.verify()
    broken = report.first_broken
    return ChainVerification(
        valid=report.valid,
        checked=report.checked,
        first_broken=BrokenRecord(seq=broken.seq, id=broken.id, reason=broken.reason)
        if broken
        else None,
    )
