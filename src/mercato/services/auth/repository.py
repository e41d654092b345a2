"""Queries of the auth database."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from mercato.services.auth.models import RefreshToken, User


async def user_by_email(session: AsyncSession, email: str) -> User | None:
    """The account registered with ``email``."""
    return await session.scalar(select(User).where(User.email == email))


async def user_by_id(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    """The account ``user_id``."""
    return await session.get(User, user_id)


async def set_password_hash(session: AsyncSession, user_id: uuid.UUID, password_hash: str) -> None:
    """Replaces an account's password hash."""
    await session.execute(
        update(User).where(User.id == user_id).values(password_hash=password_hash)
    )


async def refresh_token_for_update(session: AsyncSession, token_hash: bytes) -> RefreshToken | None:
    """The refresh token with this hash, locked for the rest of the transaction."""
    return await session.scalar(
        select(RefreshToken).where(RefreshToken.token_hash == token_hash).with_for_update()
    )


async def revoke_family(session: AsyncSession, family_id: uuid.UUID, now: datetime) -> None:
    """Revokes every token of a login session."""
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )


async def locked_until(session: AsyncSession, keys: list[str], now: datetime) -> datetime | None:
    """The latest lockout among ``keys`` still in force."""
    return await session.scalar(
        text(
            "SELECT max(locked_until) FROM login_throttle "
            "WHERE key = ANY(:keys) AND locked_until > :now"
        ),
        {"keys": keys, "now": now},
    )


async def count_failure(
    session: AsyncSession, key: str, now: datetime, window_start: datetime
) -> int:
    """Adds a failed login to ``key``'s window (a new window when the old one ended)."""
    failures = await session.scalar(
        text(
            "INSERT INTO login_throttle AS t (key, failures, window_started_at) "
            "VALUES (:key, 1, :now) "
            "ON CONFLICT (key) DO UPDATE SET "
            "failures = CASE WHEN t.window_started_at < :window_start THEN 1 "
            "ELSE t.failures + 1 END, "
            "window_started_at = CASE WHEN t.window_started_at < :window_start THEN :now "
            "ELSE t.window_started_at END "
            "RETURNING failures"
        ),
        {"key": key, "now": now, "window_start": window_start},
    )
    return int(failures or 0)


async def lock(session: AsyncSession, key: str, until: datetime) -> None:
    """Refuses logins for ``key`` until ``until``."""
    await session.execute(
        text("UPDATE login_throttle SET locked_until = :until WHERE key = :key"),
        {"key": key, "until": until},
    )


async def clear_failures(session: AsyncSession, key: str) -> None:
    """Forgets the failed logins of ``key``."""
    await session.execute(text("DELETE FROM login_throttle WHERE key = :key"), {"key": key})
