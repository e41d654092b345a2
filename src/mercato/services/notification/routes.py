"""HTTP routes of notification: parse, authorize, call one use case."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from mercato.catalog import API_PREFIX
from mercato.platform.deps import Provided
from mercato.platform.pagination import Page, PageRequestDep, newest_first, page_of
from mercato.platform.security import CurrentUser
from mercato.services.notification.schemas import (
    NotificationPublic,
    PreferencesPublic,
    PreferencesUpdate,
)
from mercato.services.notification.service import Notifications

router = APIRouter(prefix=f"{API_PREFIX}/notifications", tags=["notification"])


@router.get("")
async def my_notifications(
    user: CurrentUser, page: PageRequestDep, notifications: Provided[Notifications]
) -> Page[NotificationPublic]:
    """The caller's in-app notifications, newest first."""
    rows = await notifications.page(user.user_id, page)
    return page_of(rows, page, NotificationPublic.model_validate, key=newest_first)


@router.get("/preferences")
async def my_preferences(
    user: CurrentUser, notifications: Provided[Notifications]
) -> PreferencesPublic:
    """Which categories of email the caller gets."""
    return PreferencesPublic(**await notifications.preferences(user.user_id))


@router.put("/preferences")
async def set_my_preferences(
    body: PreferencesUpdate, user: CurrentUser, notifications: Provided[Notifications]
) -> PreferencesPublic:
    """Opts the caller in or out of each category of email (in-app notifications stay)."""
    return PreferencesPublic(**await notifications.set_preferences(user.user_id, body.model_dump()))


@router.post("/{notification_id}/read")
async def read_notification(
    notification_id: uuid.UUID, user: CurrentUser, notifications: Provided[Notifications]
) -> NotificationPublic:
    """Marks one of the caller's notifications read."""
    return NotificationPublic.model_validate(
        await notifications.mark_read(user.user_id, notification_id)
    )
