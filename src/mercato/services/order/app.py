"""Builds the order service."""

from __future__ import annotations

from fastapi import FastAPI

from mercato.platform.app import Platform
from mercato.services.order import routes
from mercato.services.order.clients import InventoryClient, PaymentClient, ProductClient
from mercato.services.order.metrics import OrderMetrics
from mercato.services.order.models import Base
from mercato.services.order.saga import Saga, record_refund
from mercato.services.order.service import Carts, Orders, order_document
from mercato.services.order.settings import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    """The order app: carts, checkout and the saga's recovery job."""
    settings = settings or Settings()
    platform = Platform(
        settings, metadata=Base.metadata, handlers={"payment.refunded": record_refund}
    )
    assert platform.database is not None
    products = ProductClient(platform.http)
    saga = Saga(
        settings=settings,
        unit_of_work=platform.database.unit_of_work,
        stock=InventoryClient(platform.http),
        cashier=PaymentClient(platform.http, charge_timeout=settings.charge_timeout_seconds),
        present=order_document,
        reached=OrderMetrics(platform.metrics).reached,
    )
    platform.add_job("order-recovery", saga.recover_forever)
    app = platform.create_app(routers=[routes.router])
    app.state.carts = Carts(
        settings=settings, unit_of_work=platform.database.unit_of_work, products=products
    )
    app.state.orders = Orders(
        settings=settings,
        unit_of_work=platform.database.unit_of_work,
        products=products,
        saga=saga,
    )
    app.state.saga = saga
    return app
