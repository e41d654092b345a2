"""Response bodies of the log API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class LogEntryPublic(BaseModel):
    """One log record as the search shows it."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    at: datetime
    service: str
    level: str
    logger: str | None
    message: str
    request_id: str | None
    trace_id: str | None
    user_id: str | None
    attributes: dict[str, Any]


class AuditRecordPublic(BaseModel):
    """One audit record: ``action`` is the event type, ``actor`` the user behind it."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    seq: int
    at: datetime
    actor: str | None
    action: str
    subject: str
    detail: dict[str, Any]
    hash: str


class BrokenRecord(BaseModel):
    """Where the chain breaks: the first record that no longer follows from those before."""

    seq: int
    id: uuid.UUID | None
    reason: str


class ChainVerification(BaseModel):
    """The audit trail's verification: valid, how many records were checked, the first break."""

    valid: bool
    checked: int
    first_broken: BrokenRecord | None
