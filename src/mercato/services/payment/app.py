"""Builds the payment service."""

from __future__ import annotations

from fastapi import FastAPI

from mercato.platform.app import Platform
from mercato.services.payment import routes
from mercato.services.payment.models import Base
from mercato.services.payment.processor import SandboxProcessor
from mercato.services.payment.service import Payments
from mercato.services.payment.settings import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    """The payment app: the sandbox processor, charges and their recovery job."""
    settings = settings or Settings()
    platform = Platform(settings, metadata=Base.metadata)
    assert platform.database is not None
    processor = SandboxProcessor(
        platform.database.sessionmaker, slow_seconds=settings.sandbox_slow_seconds
    )
    payments = Payments(
        settings=settings,
        unit_of_work=platform.database.unit_of_work,
        processor=processor,
        outcomes=platform.metrics.counter(
            "mercato_payment_charges_total",
            "Charges settled, by outcome.",
            ["outcome"],
            known={"outcome": ("succeeded", "declined")},
        ),
    )
    platform.add_job("charge-recovery", payments.recover_forever)
    app = platform.create_app(routers=[routes.router])
    app.state.payments = payments
    return app
