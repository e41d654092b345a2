"""Queries of the notification database."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from mercato.services.notification.models import (
    Notification,
    OutgoingMail,
    Preferences,
    Recipient,
)

PENDING, SENT, FAILED = "pending", "sent", "failed"


async def recipient(session: AsyncSession, user_id: uuid.UUID) -> Recipient | None:
    """What is known of account ``user_id``."""
    return await session.get(Recipient, user_id)


async def remember_registration(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    email: str,
    name: str,
    is_admin: bool,
    now: datetime,
) -> None:
    """Records an account's address and name; a role change seen first keeps its say."""
    await session.execute(
        insert(Recipient)
        .values(id=user_id, email=email, name=name, is_admin=is_admin, updated_at=now)
        .on_conflict_do_update(
            index_elements=[Recipient.id],
            set_={"email": email, "name": name, "updated_at": now},
        )
    )


async def remember_roles(
    session: AsyncSession, *, user_id: uuid.UUID, is_admin: bool, now: datetime
) -> None:
    """Records whether an account is an administrator."""
    await session.execute(
        insert(Recipient)
        .values(id=user_id, is_admin=is_admin, updated_at=now)
        .on_conflict_do_update(
            index_elements=[Recipient.id], set_={"is_admin": is_admin, "updated_at": now}
        )
    )


async def rename(session: AsyncSession, *, user_id: uuid.UUID, name: str, now: datetime) -> None:
    """Records an account's new name (if the account is known)."""
    await session.execute(
        update(Recipient).where(Recipient.id == user_id).values(name=name, updated_at=now)
    )


async def admins(session: AsyncSession) -> list[Recipient]:
    """Every administrator."""
    query = select(Recipient).where(Recipient.is_admin).order_by(Recipient.id)
    return list((await session.scalars(query)).all())


async def preferences(session: AsyncSession, user_id: uuid.UUID) -> Preferences | None:
    """A user's stored preferences; None means the defaults."""
    return await session.get(Preferences, user_id)


async def store_preferences(
    session: AsyncSession, *, user_id: uuid.UUID, choices: dict[str, bool], now: datetime
) -> None:
    """Replaces a user's preferences."""
    await session.execute(
        insert(Preferences)
        .values(user_id=user_id, updated_at=now, **choices)
        .on_conflict_do_update(
            index_elements=[Preferences.user_id], set_={**choices, "updated_at": now}
        )
    )


async def insert_notification_once(session: AsyncSession, values: dict[str, Any]) -> bool:
    """Inserts a notification unless this event already made one for this user."""
    result = await session.execute(
        insert(Notification)
        .values(**values)
        .on_conflict_do_nothing(index_elements=[Notification.event_id, Notification.user_id])
        .returning(Notification.id)
    )
    return result.first() is not None


async def notifications_page(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None,
) -> list[Notification]:
    """A user's notifications, newest first."""
    query = (
        select(Notification)
        .where(Notification.user_id == user_id)
        .order_by(Notification.created_at.desc(), Notification.id.desc())
        .limit(limit)
    )
    if after is not None:
        query = query.where(tuple_(Notification.created_at, Notification.id) < tuple_(*after))
    return list((await session.scalars(query)).all())


async def notification_of(
    session: AsyncSession, user_id: uuid.UUID, notification_id: uuid.UUID
) -> Notification | None:
    """The notification ``notification_id`` if it is ``user_id``'s."""
    found = await session.get(Notification, notification_id)
    return found if found is not None and found.user_id == user_id else None


async def due_mail_for_update(session: AsyncSession, *, now: datetime) -> OutgoingMail | None:
    """The next pending mail due now, locked; one another sender holds is skipped."""
    query = (
        select(OutgoingMail)
        .where(OutgoingMail.status == PENDING, OutgoingMail.next_attempt_at <= now)
        .order_by(OutgoingMail.next_attempt_at)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    return await session.scalar(query)


async def mail_backlog(session: AsyncSession) -> tuple[int, datetime | None]:
    """How many mails are pending, and when the oldest of them was queued."""
    count, oldest = (
        await session.execute(
            select(func.count(), func.min(OutgoingMail.created_at)).where(
                OutgoingMail.status == PENDING
            )
        )
    ).one()
    return int(count), oldest
