"""/health, /ready and /metrics of a chassis app wired to real engines."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.engine import make_url

from mercato.platform.app import Platform
from mercato.platform.errors import PROBLEM_BASE, PROBLEM_CONTENT_TYPE
from mercato.platform.settings import ServiceSettings
from mercato.runner.engines import free_port
from tests.chassis import served, test_router
from tests.conftest import TEST_SECRETS, Databases, EngineSet, Harness


def settings_for(engines: EngineSet, database_url: str, **overrides: Any) -> ServiceSettings:
    """Chassis settings of a service with a database and events (auth's catalog entry)."""
    values: dict[str, Any] = {
        "port": free_port(),
        "database_url": database_url,
        "nats_url": engines.nats_url,
        "event_prefix": f"t{uuid.uuid4().hex[:10]}",
    }
    values.update(overrides)
    return ServiceSettings.for_service("auth", **values)


@pytest.fixture
async def live(engines: EngineSet, databases: Databases) -> AsyncIterator[httpx.AsyncClient]:
    settings = settings_for(engines, await databases.fresh("auth"))
    app = Platform(settings).create_app(routers=[test_router()])
    try:
        async with served(app) as url, httpx.AsyncClient(base_url=url) as client:
            yield client
    finally:
        await databases.drop_created()


@pytest.fixture
async def without_database(
    engines: EngineSet, databases: Databases
) -> AsyncIterator[httpx.AsyncClient]:
    closed = make_url(databases.server_url).set(port=free_port(), database="mercato_auth")
    settings = settings_for(engines, closed.render_as_string(hide_password=False))
    app = Platform(settings).create_app(routers=[test_router()])
    async with served(app) as url, httpx.AsyncClient(base_url=url) as client:
        yield client


def samples(exposition: str) -> set[str]:
    return {s.name for f in text_string_to_metric_families(exposition) for s in f.samples}


async def test_health_answers_while_the_process_runs(live):
    response = await live.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "service": "auth"}


async def test_ready_lists_every_check(live):
    response = await live.get("/ready")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "service": "auth",
        "checks": {"database": "ok", "events": "ok"},
    }


async def test_metrics_carry_the_chassis_series(live):
    await live.get("/ready")
    await live.get("/api/v1/items/1")
    response = await live.get("/metrics")
    assert response.status_code == 200
    names = samples(response.text)
    for name in (
        "mercato_build_info",
        "mercato_http_requests_total",
        "mercato_http_request_duration_seconds_bucket",
        "mercato_db_pool_size",
        "mercato_db_pool_in_use",
        "mercato_db_pool_wait_seconds_count",
        "process_resident_memory_bytes",
    ):
        assert name in names, name


async def test_ready_is_503_problem_with_details_when_the_database_is_down(without_database):
    response = await without_database.get("/ready")
    assert response.status_code == 503
    assert response.headers["content-type"] == PROBLEM_CONTENT_TYPE
    body = response.json()
    assert body["type"] == PROBLEM_BASE + "not-ready"
    assert body["status"] == 503
    assert body["checks"]["events"] == "ok"
    assert body["checks"]["database"].startswith("failing: ")
    assert TEST_SECRETS["postgres_password"] not in response.text
    assert body["request_id"] == response.headers["x-request-id"]


async def test_health_stays_up_when_the_database_is_down(without_database):
    assert (await without_database.get("/health")).status_code == 200


async def test_a_service_with_buckets_creates_them_and_checks_them(harness: Harness):
    user = await harness.start("user")
    response = await user.client.get("/ready")
    assert response.status_code == 200, response.text
    assert response.json()["checks"] == {"database": "ok", "events": "ok", "object_store": "ok"}


async def test_a_service_whose_catalog_and_handlers_disagree_refuses_to_build(
    engines: EngineSet, databases: Databases
):
    settings = settings_for(engines, "postgresql://u:p@127.0.0.1:1/x")

    async def handler(event: Any, uow: Any) -> None:
        return None

    with pytest.raises(ValueError, match="consumes"):
        Platform(settings, handlers={"something.else": handler})


def test_a_service_with_a_database_needs_its_url():
    with pytest.raises(ValueError, match="MERCATO_DATABASE_URL"):
        Platform(ServiceSettings.for_service("auth", database_url=None))
