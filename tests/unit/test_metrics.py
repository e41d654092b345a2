"""/metrics: RED series per route template, bounded labels, build info."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from mercato.platform.metrics import UNMATCHED_ROUTE, Metrics
from tests.chassis import gateway_settings, served, tiny_app


def samples(exposition: str, name: str) -> list[tuple[dict[str, str], float]]:
    """Every sample called ``name`` with its labels."""
    return [
        (sample.labels, sample.value)
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
        if sample.name == name
    ]


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    app = tiny_app(gateway_settings(version="1.2.3", commit="abc1234"))
    async with served(app) as url, httpx.AsyncClient(base_url=url) as http:
        yield http


async def scrape(client: httpx.AsyncClient) -> str:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


async def test_build_info_names_version_commit_and_profile(client):
    [(labels, value)] = samples(await scrape(client), "mercato_build_info")
    assert labels == {"service": "gateway", "version": "1.2.3", "commit": "abc1234", "env": "dev"}
    assert value == 1


async def test_requests_are_counted_by_route_template(client):
    await client.get("/api/v1/items/123")
    await client.get("/api/v1/items/456")
    await client.get("/api/v1/items/789")
    exposition = await scrape(client)
    counted = [
        (labels, value)
        for labels, value in samples(exposition, "mercato_http_requests_total")
        if labels["route"].startswith("/api/v1/items")
    ]
    assert counted == [
        (
            {
                "service": "gateway",
                "route": "/api/v1/items/{item_id}",
                "method": "GET",
                "status": "200",
            },
            3,
        )
    ]
    durations = [
        (labels, value)
        for labels, value in samples(exposition, "mercato_http_request_duration_seconds_count")
        if labels["route"].startswith("/api/v1/items")
    ]
    assert durations == [
        ({"service": "gateway", "route": "/api/v1/items/{item_id}", "method": "GET"}, 3)
    ]


async def test_statuses_are_labelled(client):
    await client.get("/api/v1/items/boom")
    await client.post("/api/v1/items", json={"name": ""})
    await client.delete("/api/v1/items")
    counted = {
        (labels["route"], labels["method"], labels["status"])
        for labels, _ in samples(await scrape(client), "mercato_http_requests_total")
    }
    assert ("/api/v1/items/boom", "GET", "500") in counted
    assert ("/api/v1/items", "POST", "422") in counted
    assert ("/api/v1/items", "DELETE", "405") in counted


async def test_unmatched_paths_share_one_label(client):
    await client.get("/nope/1")
    await client.get("/nope/2")
    await client.get(f"/{uuid.uuid4()}")
    unmatched = [
        (labels, value)
        for labels, value in samples(await scrape(client), "mercato_http_requests_total")
        if labels["route"] == UNMATCHED_ROUTE
    ]
    assert unmatched == [
        ({"service": "gateway", "route": UNMATCHED_ROUTE, "method": "GET", "status": "404"}, 3)
    ]


@pytest.mark.parametrize("parser", ["httptools", "h11"])
async def test_label_cardinality_stays_bounded_after_many_distinct_requests(parser):
    # h11 lets any method token through to the app; httptools only known ones.
    app = tiny_app()
    async with served(app, http=parser) as url, httpx.AsyncClient(base_url=url) as client:
        await make_many_distinct_requests(client)
        exposition = await scrape(client)
    counted = samples(exposition, "mercato_http_requests_total")
    routes = {labels["route"] for labels, _ in counted}
    methods = {labels["method"] for labels, _ in counted}
    assert routes <= {"/api/v1/items/{item_id}", UNMATCHED_ROUTE, "/metrics"}
    assert len(methods) <= 3
    assert len(counted) <= 6
    assert len(samples(exposition, "mercato_http_request_duration_seconds_count")) <= 4


async def make_many_distinct_requests(client: httpx.AsyncClient) -> None:
    for n in range(150):
        await client.get(f"/api/v1/items/{uuid.uuid4()}")
        await client.get(f"/random/{n}/{uuid.uuid4()}")
        await client.request(f"X{n}METHOD", f"/random/{n}")


async def test_in_flight_gauge_is_back_to_zero(client):
    await client.get("/api/v1/items/1")
    [(_, value)] = samples(await scrape(client), "mercato_http_requests_in_flight")
    # The scrape itself is in flight.
    assert value == 1


def test_service_metrics_get_the_service_label():
    metrics = Metrics("shop", version="1", commit="c", env="dev")
    sold = metrics.counter("mercato_items_sold_total", "Items sold.", ["kind"])
    sold.labels(kind="cup").inc(2)
    plain = metrics.gauge("mercato_shop_open", "Open or not.")
    plain.set(1)
    exposition = metrics.exposition()[0].decode()
    assert samples(exposition, "mercato_items_sold_total") == [
        ({"service": "shop", "kind": "cup"}, 2)
    ]
    assert samples(exposition, "mercato_shop_open") == [({"service": "shop"}, 1)]


def test_known_label_values_are_exported_at_zero_from_the_start():
    metrics = Metrics("shop", version="1", commit="c", env="dev")
    metrics.counter(
        "mercato_shop_logins_total", "Logins.", ["result"], known={"result": ("ok", "refused")}
    )
    exposition = metrics.exposition()[0].decode()
    assert samples(exposition, "mercato_shop_logins_total") == [
        ({"service": "shop", "result": "ok"}, 0),
        ({"service": "shop", "result": "refused"}, 0),
    ]


@pytest.mark.parametrize(
    ("name", "labels"),
    [
        ("shop_items_total", None),  # no mercato_ prefix
        ("mercato_items", None),  # a counter without _total
        ("mercato_items_total", ["instance"]),  # a label Prometheus sets itself
        ("mercato_items_total", ["service"]),  # filled in by the chassis
    ],
)
def test_names_against_the_conventions_are_refused(name, labels):
    metrics = Metrics("shop", version="1", commit="c", env="dev")
    with pytest.raises(ValueError, match=name):
        metrics.counter(name, "Items.", labels)


def test_process_metrics_are_exposed():
    metrics = Metrics("shop", version="1", commit="c", env="dev")
    assert samples(metrics.exposition()[0].decode(), "process_resident_memory_bytes")
