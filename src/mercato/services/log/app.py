"""Builds the log service."""

from __future__ import annotations

from fastapi import FastAPI

from mercato.platform.app import Platform
from mercato.services.log import routes
from mercato.services.log.models import Base
from mercato.services.log.service import AUDITED_EVENTS, AuditTrail, LogStore, record_audit_event
from mercato.services.log.settings import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    """The log app: OTLP ingest and search, the audit trail, retention and verification jobs."""
    settings = settings or Settings()
    platform = Platform(
        settings,
        metadata=Base.metadata,
        handlers=dict.fromkeys(AUDITED_EVENTS, record_audit_event),
    )
    assert platform.database is not None
    metrics = platform.metrics
    store = LogStore(
        settings=settings,
        unit_of_work=platform.database.unit_of_work,
        stored=metrics.counter("mercato_log_records_stored_total", "Log records received."),
        purged=metrics.counter(
            "mercato_log_records_purged_total", "Log records deleted after the retention period."
        ),
    )
    trail = AuditTrail(
        settings=settings,
        unit_of_work=platform.database.unit_of_work,
        chain_valid=metrics.gauge(
            "mercato_audit_chain_valid",
            "1 while the audit hash chain verifies, 0 once a record was altered or removed.",
        ),
        chain_length=metrics.gauge(
            "mercato_audit_chain_records", "Audit records checked by the last verification."
        ),
    )
    platform.add_job("log-retention", store.purge_forever)
    platform.add_job("audit-verification", trail.verify_forever)
    app = platform.create_app(routers=[routes.router])
    app.state.log_store = store
    app.state.audit_trail = trail
    return app
