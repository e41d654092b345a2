"""HTTP routes of user: parse, authorize, call one use case."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, status

from mercato.catalog import API_PREFIX
from mercato.platform.deps import Provided
from mercato.platform.pagination import Page, PageRequestDep, newest_first, page_of
from mercato.platform.security import AdminUser, CurrentUser
from mercato.services.user.schemas import (
    AddressCreate,
    AddressPublic,
    AvatarUploadRequest,
    PresignedUploadPublic,
    ProfilePublic,
    ProfileUpdate,
)
from mercato.services.user.service import Profiles, ProfileView

router = APIRouter(prefix=f"{API_PREFIX}/users", tags=["user"])


def _public(view: ProfileView) -> ProfilePublic:
    p = view.profile
    return ProfilePublic(
        id=p.id,
        email=p.email,
        name=p.name,
        phone=p.phone,
        addresses=[AddressPublic.model_validate(a) for a in p.addresses],
        avatar_url=view.avatar_url,
        created_at=p.created_at,
    )


@router.get("/me")
async def my_profile(user: CurrentUser, profiles: Provided[Profiles]) -> ProfilePublic:
    """The caller's profile."""
    return _public(await profiles.view(user.user_id))


@router.patch("/me")
async def update_my_profile(
    body: ProfileUpdate, user: CurrentUser, profiles: Provided[Profiles]
) -> ProfilePublic:
    """Changes the caller's name or phone."""
    return _public(await profiles.update(user.user_id, name=body.name, phone=body.phone))


@router.post("/me/addresses", status_code=status.HTTP_201_CREATED)
async def add_address(
    body: AddressCreate, user: CurrentUser, profiles: Provided[Profiles]
) -> AddressPublic:
    """Adds a postal address."""
    address = await profiles.add_address(user.user_id, **body.model_dump())
    return AddressPublic.model_validate(address)


@router.delete("/me/addresses/{address_id}", status_code=status.HTTP_204_NO_CONTENT)
async def remove_address(
    address_id: uuid.UUID, user: CurrentUser, profiles: Provided[Profiles]
) -> None:
    """Deletes one of the caller's addresses."""
    await profiles.remove_address(user.user_id, address_id)


@router.post("/me/avatar")
async def start_avatar_upload(
    body: AvatarUploadRequest, user: CurrentUser, profiles: Provided[Profiles]
) -> PresignedUploadPublic:
    """A presigned URL to upload a new avatar; it shows on the profile once uploaded."""
    upload = await profiles.start_avatar_upload(
        user.user_id, content_type=body.content_type, size=body.size
    )
    return PresignedUploadPublic(**vars(upload))


@router.get("")
@router.get("/", include_in_schema=False)
async def list_profiles(
    _: AdminUser, page: PageRequestDep, profiles: Provided[Profiles]
) -> Page[ProfilePublic]:
    """Every profile, newest first (administrators)."""
    views = await profiles.page(page)
    return page_of(
        views,
        page,
        _public,
        key=lambda v: newest_first(v.profile),
    )


@router.get("/{user_id}")
async def profile_by_id(
    user_id: uuid.UUID, _: AdminUser, profiles: Provided[Profiles]
) -> ProfilePublic:
    """One profile (administrators)."""
    return _public(await profiles.view(user_id))
