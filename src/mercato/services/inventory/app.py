"""Builds the inventory service."""

from __future__ import annotations

from fastapi import FastAPI

from mercato.platform.app import Platform
from mercato.services.inventory import routes
from mercato.services.inventory.models import Base
from mercato.services.inventory.service import Inventory
from mercato.services.inventory.settings import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    """The inventory app, with the sweeper that releases expired reservations."""
    settings = settings or Settings()
    platform = Platform(settings, metadata=Base.metadata)
    assert platform.database is not None
    inventory = Inventory(settings=settings, unit_of_work=platform.database.unit_of_work)
    platform.add_job("reservation-sweeper", inventory.sweep_periodically)
    app = platform.create_app(routers=[routes.router])
    app.state.inventory = inventory
    return app
