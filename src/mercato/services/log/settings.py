"""Settings of the log service."""

from __future__ import annotations

from pydantic import Field

from mercato.platform.settings import ServiceSettings


class Settings(ServiceSettings):
    """log's settings: how long log records are kept and how often the audit chain is checked."""

    service: str = "log"
    log_retention_days: float = Field(default=7.0, gt=0)
    log_purge_interval_seconds: float = 300.0
    audit_verify_interval_seconds: float = 300.0
    # A shipped batch is bigger than an API request: up to 500 records of up to 8 KiB.
    max_body_bytes: int = 8 * 1024 * 1024
    # The log service does not ship its own records to itself (each ingest would log).
    log_shipping_url: str | None = None
