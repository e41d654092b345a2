"""Queries of the user database."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from mercato.services.user.models import Address, Profile


async def profile(session: AsyncSession, user_id: uuid.UUID) -> Profile | None:
    """The profile of ``user_id`` with its addresses."""
    return await session.get(Profile, user_id)


async def create_profile_once(
    session: AsyncSession, *, user_id: uuid.UUID, email: str, name: str, now: datetime
) -> bool:
    """Creates the profile unless it exists; True when it was created."""
    result = await session.execute(
        insert(Profile)
        .values(id=user_id, email=email, name=name, created_at=now, updated_at=now)
        .on_conflict_do_nothing(index_elements=[Profile.id])
        .returning(Profile.id)
    )
    return result.first() is not None


async def address_of(
    session: AsyncSession, user_id: uuid.UUID, address_id: uuid.UUID
) -> Address | None:
    """The address ``address_id`` if it belongs to ``user_id``."""
    return await session.scalar(
        select(Address).where(Address.id == address_id, Address.user_id == user_id)
    )


async def profiles_page(
    session: AsyncSession, *, limit: int, after: tuple[datetime, uuid.UUID] | None
) -> list[Profile]:
    """Profiles newest first, ``limit`` of them after the keyset ``after``."""
    query = select(Profile).order_by(Profile.created_at.desc(), Profile.id.desc()).limit(limit)
    if after is not None:
        query = query.where(tuple_(Profile.created_at, Profile.id) < tuple_(*after))
    return list((await session.scalars(query)).all())
