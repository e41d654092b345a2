"""Builds the product service."""

from __future__ import annotations

from fastapi import FastAPI

from mercato.platform.app import Platform
from mercato.services.product import routes
from mercato.services.product.models import Base
from mercato.services.product.service import Catalog, apply_review
from mercato.services.product.settings import Settings

REVIEW_EVENTS = ("review.created", "review.updated", "review.hidden", "review.deleted")


def create_app(settings: Settings | None = None) -> FastAPI:
    """The product app: the rating aggregate follows the review events."""
    settings = settings or Settings()
    platform = Platform(
        settings,
        metadata=Base.metadata,
        handlers=dict.fromkeys(REVIEW_EVENTS, apply_review),
    )
    assert platform.database is not None
    assert platform.store is not None
    app = platform.create_app(routers=[routes.router])
    app.state.catalog = Catalog(
        settings=settings,
        unit_of_work=platform.database.unit_of_work,
        reader=platform.database.reader,
        store=platform.store,
        bucket=platform.bucket("product-images"),
    )
    return app
