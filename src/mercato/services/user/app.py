"""Builds the user service."""

from __future__ import annotations

from fastapi import FastAPI

from mercato.platform.app import Platform
from mercato.services.user import routes
from mercato.services.user.models import Base
from mercato.services.user.service import Profiles, create_profile
from mercato.services.user.settings import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    """The user app: profiles follow registrations published by auth."""
    settings = settings or Settings()
    platform = Platform(
        settings, metadata=Base.metadata, handlers={"user.registered": create_profile}
    )
    assert platform.database is not None
    assert platform.store is not None
    app = platform.create_app(routers=[routes.router])
    app.state.profiles = Profiles(
        settings=settings,
        unit_of_work=platform.database.unit_of_work,
        store=platform.store,
        bucket=platform.bucket("avatars"),
    )
    return app
