"""Request and response bodies of the notification API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from mercato.platform.schemas import Strict


class NotificationPublic(BaseModel):
    """An in-app notification as the API shows it."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    category: str
    title: str
    body: str
    created_at: datetime
    read_at: datetime | None
    data: dict[str, Any]


class PreferencesPublic(BaseModel):
    """Which categories of email a user gets."""

    marketing: bool
    orders: bool
    account: bool


class PreferencesUpdate(Strict):
    """The categories of email a user wants; an omitted category keeps being sent."""

    marketing: bool = True
    orders: bool = True
    account: bool = True
