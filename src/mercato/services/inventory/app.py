"""Builds the inventory service."""

from __future__ import annotations

import asyncio

from fastapi import FastAPI

from mercato.platform.app import Platform
from mercato.services.inventory import routes
from mercato.services.inventory.models import Base
from mercato.services.inventory.service import Inventory
from mercato.services.inventory.settings import Settings

LOW_STOCK_MEASURE_SECONDS = 15.0


def create_app(settings: Settings | None = None) -> FastAPI:
    """The inventory app, with the sweeper that releases expired reservations."""
    settings = settings or Settings()
    platform = Platform(settings, metadata=Base.metadata)
    assert platform.database is not None
    inventory = Inventory(
        settings=settings,
        unit_of_work=platform.database.unit_of_work,
        reservations=platform.metrics.counter(
            "mercato_inventory_reservations_total",
            "Reservations by result: held, rejected (short of stock), committed, released, "
            "returned, expired.",
            ["result"],
            known={"result": ("held", "rejected", "committed", "released", "returned", "expired")},
        ),
    )
    low_stock = platform.metrics.gauge(
        "mercato_inventory_low_stock_skus", "SKUs below their low-stock threshold."
    )

    async def measure_low_stock() -> None:
        while True:
            low_stock.set(await inventory.low_stock_skus())
            await asyncio.sleep(LOW_STOCK_MEASURE_SECONDS)

    platform.add_job("reservation-sweeper", inventory.sweep_periodically)
    platform.add_job("low-stock-gauge", measure_low_stock)
    app = platform.create_app(routers=[routes.router])
    app.state.inventory = inventory
    return app
