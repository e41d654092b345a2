"""Builds the analytics service."""

from __future__ import annotations

from fastapi import FastAPI

from mercato.platform.app import Platform
from mercato.services.analytics import routes
from mercato.services.analytics.models import Base
from mercato.services.analytics.service import (
    FUNNEL_STEPS,
    Reports,
    count_cart,
    count_order,
    count_registration,
)
from mercato.services.analytics.settings import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    """The analytics app: daily counters follow order, cart and registration events."""
    settings = settings or Settings()
    platform = Platform(
        settings,
        metadata=Base.metadata,
        handlers={
            **dict.fromkeys(FUNNEL_STEPS, count_order),
            "order.cart_item_added": count_cart,
            "user.registered": count_registration,
        },
    )
    assert platform.database is not None
    app = platform.create_app(routers=[routes.router])
    app.state.reports = Reports(settings=settings, unit_of_work=platform.database.unit_of_work)
    return app
