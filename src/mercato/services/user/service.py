"""user's use cases: profiles from registrations, edits, addresses, avatars."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from mercato.contracts.auth import UserRegistered
from mercato.contracts.user import UserUpdated
from mercato.platform.db import UnitOfWork, utcnow
from mercato.platform.errors import NotFound
from mercato.platform.events import Event
from mercato.platform.pagination import PageRequest, created_before
from mercato.platform.s3 import ObjectStore, PresignedUpload, UploadPolicy
from mercato.services.user import repository
from mercato.services.user.models import Address, Profile
from mercato.services.user.settings import Settings


@dataclass(frozen=True)
class ProfileView:
    """A profile with a fresh download URL for its avatar."""

    profile: Profile
    avatar_url: str | None


class ProfileNotFound(NotFound):
    """No profile for this user (yet: it is created when the registration event arrives)."""

    slug, title = "profile-not-found", "Profile not found"


async def create_profile(event: Event[UserRegistered], uow: UnitOfWork) -> None:
    """Handles ``user.registered``: creates the profile, once, whatever the redeliveries."""
    registered = event.payload
    await repository.create_profile_once(
        uow.session,
        user_id=registered.user_id,
        email=registered.email,
        name=registered.name,
        now=utcnow(),
    )


class Profiles:
    """The user use cases; each opens and commits its own unit of work."""

    def __init__(
        self,
        *,
        settings: Settings,
        unit_of_work: Callable[[], UnitOfWork],
        store: ObjectStore,
        bucket: str,
    ) -> None:
        self._settings = settings
        self._uow = unit_of_work
        self._store = store
        self._bucket = bucket

    async def view(self, user_id: uuid.UUID) -> ProfileView:
        """The profile of ``user_id``, taking in an avatar upload that has completed."""
        async with self._uow() as uow:
            profile = await self._load(uow, user_id)
            if profile.pending_avatar_key and await self._uploaded(profile.pending_avatar_key):
                replaced = profile.avatar_key
                profile.avatar_key, profile.pending_avatar_key = profile.pending_avatar_key, None
                profile.updated_at = utcnow()
                await uow.commit()
                if replaced:
                    with contextlib.suppress(Exception):
                        await self._store.delete(self._bucket, replaced)
        return self._view(profile)

    async def update(
        self, user_id: uuid.UUID, *, name: str | None, phone: str | None
    ) -> ProfileView:
        """Changes name and/or phone and announces ``user.updated``."""
        async with self._uow() as uow:
            profile = await self._load(uow, user_id)
            changed = {}
            if name is not None and name != profile.name:
                profile.name = changed["name"] = name
            if phone is not None and phone != profile.phone:
                profile.phone = changed["phone"] = phone
            if changed:
                profile.updated_at = utcnow()
                await uow.publish(UserUpdated(user_id=user_id, changed=changed), subject=user_id)
                await uow.commit()
        return self._view(profile)

    async def add_address(self, user_id: uuid.UUID, **fields: str | None) -> Address:
        """Adds a postal address to the profile."""
        async with self._uow() as uow:
            await self._load(uow, user_id)
            address = Address(id=uuid.uuid4(), user_id=user_id, created_at=utcnow(), **fields)
            uow.session.add(address)
            await uow.commit()
        return address

    async def remove_address(self, user_id: uuid.UUID, address_id: uuid.UUID) -> None:
        """Deletes one of the user's addresses; someone else's is not found."""
        async with self._uow() as uow:
            address = await repository.address_of(uow.session, user_id, address_id)
            if address is None:
                raise NotFound("No such address.")
            await uow.session.delete(address)
            await uow.commit()

    async def start_avatar_upload(
        self, user_id: uuid.UUID, *, content_type: str, size: int
    ) -> PresignedUpload:
        """A presigned URL for the new avatar, within the type and size policy."""
        settings = self._settings
        UploadPolicy(settings.avatar_content_types, settings.avatar_max_bytes).check(
            content_type=content_type, size=size, what="avatar"
        )
        key = f"avatars/{user_id}/{uuid.uuid4().hex}"
        async with self._uow() as uow:
            profile = await self._load(uow, user_id)
            profile.pending_avatar_key = key
            await uow.commit()
        return self._store.presign_upload(
            self._bucket,
            key,
            content_type=content_type,
            size=size,
            expires_in=settings.avatar_upload_expires_seconds,
        )

    async def page(self, request: PageRequest) -> list[ProfileView]:
        """Profiles for administrators, newest first (``limit + 1`` rows)."""
        after = created_before(request)
        async with self._uow() as uow:
            rows = await repository.profiles_page(uow.session, limit=request.limit + 1, after=after)
        return [self._view(p) for p in rows]

    async def _load(self, uow: UnitOfWork, user_id: uuid.UUID) -> Profile:
        profile = await repository.profile(uow.session, user_id)
        if profile is None:
            raise ProfileNotFound(
                "There is no profile for this user; a new account's profile appears "
                "moments after registration."
            )
        return profile

    async def _uploaded(self, key: str) -> bool:
        return await self._store.head(self._bucket, key) is not None

    def _view(self, profile: Profile) -> ProfileView:
        url = None
        if profile.avatar_key:
            url = self._store.presign_download(
                self._bucket,
                profile.avatar_key,
                expires_in=self._settings.avatar_url_expires_seconds,
            )
        return ProfileView(profile=profile, avatar_url=url)
