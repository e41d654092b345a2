"""GET /api/v1/status: every other service and every engine, as JSON or as a page."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from mercato import catalog
from tests.conftest import Harness, RunningService
from tests.integration.health.conftest import StartHealth

STATUS = "/api/v1/status"


async def status_when(
    health: RunningService, condition: Any, *, timeout: float = 30.0
) -> dict[str, Any]:
    """Polls the status until ``condition(body)`` holds; fails with the last body."""
    body: dict[str, Any] = {}
    async with asyncio.timeout(timeout):
        while True:
            reply = await health.client.get(STATUS)
            assert reply.status_code == 200
            body = reply.json()
            if condition(body):
                return body
            await asyncio.sleep(0.1)


def states(body: dict[str, Any], kind: str) -> dict[str, str]:
    """Each target's state in a status body, by name."""
    return {t["name"]: t["status"] for t in body[kind]}


async def health_seeing_payment_ok(harness: Harness, start_health: StartHealth) -> RunningService:
    """payment and health started, once health has seen payment ok."""
    await harness.start("payment")
    health = await start_health()
    await status_when(health, lambda b: states(b, "services")["payment"] == "ok")
    return health


async def test_status_lists_every_other_service_and_every_engine(
    harness: Harness, start_health: StartHealth
) -> None:
    await harness.start("payment")
    health = await start_health()

    body = await status_when(health, lambda b: states(b, "services")["payment"] == "ok")

    assert sorted(states(body, "services")) == sorted(n for n in catalog.names() if n != "health")
    assert states(body, "engines") == {"postgres": "ok", "nats": "ok", "s3": "ok"}
    # Nothing else was started: refused connections are down, and so is the gateway.
    assert states(body, "services")["order"] == "down"
    assert body["status"] == "down"
    for target in [*body["services"], *body["engines"]]:
        assert set(target) >= {"name", "status", "latency_ms", "checked_at", "since"}
        assert target["since"] <= target["checked_at"]


async def test_status_is_public_and_answers_without_a_token(
    harness: Harness, start_health: StartHealth
) -> None:
    assert catalog.get("health").is_public_route("GET", STATUS)
    health = await start_health()
    reply = await health.client.get(STATUS, headers={"Authorization": "Bearer nonsense"})
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("application/json")


async def test_a_service_whose_database_is_gone_is_degraded_not_down(
    harness: Harness, start_health: StartHealth
) -> None:
    health = await health_seeing_payment_ok(harness, start_health)

    await harness.databases.drop_created()  # payment's database, its connections cut

    body = await status_when(health, lambda b: states(b, "services")["payment"] == "degraded")
    assert body["status"] == "down"  # the gateway is not running in this test


async def test_an_engine_nobody_listens_for_is_down_and_the_platform_with_it(
    harness: Harness, start_health: StartHealth
) -> None:
    from mercato.runner.engines import free_port

    health = await start_health(
        engine_probes={
            "postgres": f"postgresql://127.0.0.1:{free_port()}",
            "nats": f"nats://127.0.0.1:{free_port()}",
        }
    )
    body = await status_when(health, lambda b: bool(b["engines"]))
    assert states(body, "engines") == {"postgres": "down", "nats": "down"}
    assert body["status"] == "down"


async def test_a_browser_gets_a_readable_page_with_no_script(
    harness: Harness, start_health: StartHealth
) -> None:
    health = await health_seeing_payment_ok(harness, start_health)

    reply = await health.client.get(
        STATUS, headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    )
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/html")
    assert "script-src" not in reply.headers["content-security-policy"]
    assert "default-src 'none'" in reply.headers["content-security-policy"]
    page = reply.text
    assert "<script" not in page.lower()
    assert re.search(r"<td>payment</td><td class=\"ok\">ok</td>", page)
    assert re.search(r"<td>postgres</td><td class=\"ok\">ok</td>", page)
    assert 'The platform is <strong class="down">down</strong>' in page


async def test_a_json_client_gets_json_even_when_it_also_accepts_html(
    harness: Harness, start_health: StartHealth
) -> None:
    health = await start_health()
    for accept in ["application/json", "*/*", "application/json, text/html;q=0.5"]:
        reply = await health.client.get(STATUS, headers={"Accept": accept})
        assert reply.headers["content-type"].startswith("application/json"), accept


async def test_metrics_say_what_health_saw(harness: Harness, start_health: StartHealth) -> None:
    health = await health_seeing_payment_ok(harness, start_health)

    exposition = (await health.client.get("/metrics")).text
    assert 'mercato_health_target_up{kind="service",service="health",target="payment"} 1.0' in (
        exposition
    )
    assert 'mercato_health_target_up{kind="service",service="health",target="order"} 0.0' in (
        exposition
    )
    assert (
        'mercato_health_target_state{kind="engine",service="health",state="ok",target="postgres"}'
        " 1.0" in exposition
    )
    assert re.search(
        r'mercato_health_probe_duration_seconds_count\{kind="engine",service="health",'
        r'target="nats"\} [1-9]',
        exposition,
    )
    assert (
        'mercato_health_state_changes_total{kind="service",service="health",state="down",'
        'target="order"} 1.0' in exposition
    )


async def test_the_gateway_routes_the_status_to_health(
    harness: Harness, start_health: StartHealth
) -> None:
    await harness.start("auth")
    await start_health()
    gateway = await harness.start("gateway")
    async with asyncio.timeout(30):
        while True:
            reply = await gateway.client.get(STATUS)
            if reply.status_code == 200 and reply.json()["status"] != "down":
                break
            await asyncio.sleep(0.1)
    body = reply.json()
    assert {t["name"]: t["status"] for t in body["services"]}["gateway"] == "ok"
