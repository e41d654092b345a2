"""Settings of the log service."""

from __future__ import annotations

from pydantic import Field, field_validator

from mercato.platform.settings import ServiceSettings


class Settings(ServiceSettings):
    """log's settings: how long log records are kept and how often the audit chain is checked."""

    service: str = "log"
    log_retention_days: float = Field(default=7.0, gt=0)
    log_purge_interval_seconds: float = 300.0
    audit_verify_interval_seconds: float = 300.0
    # A shipped batch is bigger than an API request: up to 500 records of up to 8 KiB.
    max_body_bytes: int = 8 * 1024 * 1024

    @field_validator("log_shipping_url")
    @classmethod
    def _never_to_itself(cls, _: str | None) -> None:
        # Its records would come back as an ingest that logs a record, forever; stdout
        # keeps them (and the collector may forward container logs on Kubernetes).
        return None
