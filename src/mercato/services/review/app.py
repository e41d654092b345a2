"""Builds the review service."""

from __future__ import annotations

from fastapi import FastAPI

from mercato.platform.app import Platform
from mercato.services.review import routes
from mercato.services.review.models import Base
from mercato.services.review.service import ORDER_EVENTS, Reviews, apply_order
from mercato.services.review.settings import Settings

CHANGES = ("created", "updated", "hidden", "deleted")
REFUSALS = ("not_a_buyer", "duplicate")


def create_app(settings: Settings | None = None) -> FastAPI:
    """The review app: reviews, and who bought what from order's events."""
    settings = settings or Settings()
    platform = Platform(
        settings, metadata=Base.metadata, handlers=dict.fromkeys(ORDER_EVENTS, apply_order)
    )
    assert platform.database is not None
    app = platform.create_app(routers=[routes.router])
    app.state.reviews = Reviews(
        unit_of_work=platform.database.unit_of_work,
        changes=platform.metrics.counter(
            "mercato_review_changes_total",
            "Reviews written, revised, hidden and deleted.",
            ["change"],
            known={"change": CHANGES},
        ),
        refusals=platform.metrics.counter(
            "mercato_review_refusals_total",
            "Reviews refused: not a verified buyer, or a second review of the product.",
            ["reason"],
            known={"reason": REFUSALS},
        ),
    )
    return app
