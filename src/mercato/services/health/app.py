"""Builds the health service."""

from __future__ import annotations

import aiohttp
from fastapi import FastAPI

from mercato import catalog
from mercato.platform.app import Platform
from mercato.services.health import probes, routes
from mercato.services.health.metrics import StatusMetrics
from mercato.services.health.service import Kind, StatusBoard, Target
from mercato.services.health.settings import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    """The health app: a board probing every other service and every engine."""
    settings = settings or Settings()
    platform = Platform(settings)

    def session() -> aiohttp.ClientSession:
        return platform.http.session

    services = [
        Target(name, Kind.service, probes.service_ready(session, settings.service_url(name)))
        for name in catalog.names()
        if name != settings.service
    ]
    engines = [
        Target(name, Kind.engine, probes.engine_probe(session, address))
        for name, address in settings.engine_probes.items()
    ]
    board = StatusBoard(
        [*services, *engines],
        interval=settings.probe_interval_seconds,
        timeout=settings.probe_timeout_seconds,
        watchers=StatusMetrics(platform.metrics),
    )

    # The first round runs before the service answers, so the status never lists a
    # target it has not probed yet.
    platform.on_startup(board.probe_all)
    platform.add_job("probes", board.watch_forever)
    app = platform.create_app(routers=[routes.router])
    app.state.board = board
    return app
