"""Every service's records reach the log service; a dead or slow one costs requests nothing."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator

from tests.conftest import Harness, RunningService
from tests.integration.accounts import PASSWORD, scalar

DEADLINE_SECONDS = 30.0


def shipping_url(harness: Harness) -> str:
    return f"http://127.0.0.1:{harness.port('log')}/v1/logs"


async def services_logging(log: RunningService, request_id: str, wanted: set[str]) -> set[str]:
    """Polls the log service until records of every ``wanted`` service carry ``request_id``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE_SECONDS
    seen: set[str] = set()
    while loop.time() < deadline:
        rows = await scalar(
            log,
            "SELECT coalesce(array_agg(DISTINCT service), '{}') FROM log_records "
            "WHERE request_id = :rid",
            rid=request_id,
        )
        seen = set(rows)
        if wanted <= seen:
            break
        await asyncio.sleep(0.2)
    return seen


async def test_a_request_through_the_gateway_is_logged_by_every_service_it_touched(
    harness: Harness,
):
    log = await harness.start("log")
    url = shipping_url(harness)
    await harness.spawn("auth", log_shipping_url=url)
    await harness.spawn("product", log_shipping_url=url)
    gateway = await harness.spawn("gateway", log_shipping_url=url, rate_limit_per_second=0)

    registered = await gateway.client.post(
        "/api/v1/auth/register",
        json={"email": "shipped@example.com", "password": PASSWORD, "name": "Shipped"},
        headers={"X-Request-ID": "ship-register-1"},
    )
    assert registered.status_code == 201, registered.text
    listed = await gateway.client.get(
        "/api/v1/products", headers={"X-Request-ID": "ship-products-1"}
    )
    assert listed.status_code == 200, listed.text

    assert await services_logging(log, "ship-register-1", {"gateway", "auth"}) >= {
        "gateway",
        "auth",
    }
    assert await services_logging(log, "ship-products-1", {"gateway", "product"}) >= {
        "gateway",
        "product",
    }


@contextlib.asynccontextmanager
async def log_service_that_never_answers() -> AsyncIterator[str]:
    """A port that accepts connections and never replies: the slowest log service there is."""
    held: list[asyncio.StreamWriter] = []

    async def hold(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/v1/logs"
    finally:
        for writer in held:
            writer.close()
        server.close()


def dropped(metrics: str) -> float:
    found = re.search(
        r'mercato_log_records_dropped_total\{reason="undelivered",service="product"\} (\S+)',
        metrics,
    )
    return float(found.group(1)) if found else 0.0


async def test_a_log_service_that_does_not_answer_fails_no_request_and_the_drops_are_counted(
    harness: Harness,
):
    async with log_service_that_never_answers() as url:
        product = await harness.spawn("product", log_shipping_url=url)
        for _ in range(20):
            assert (await product.client.get("/api/v1/products")).status_code == 200

        loop = asyncio.get_running_loop()
        deadline = loop.time() + DEADLINE_SECONDS
        count = 0.0
        while loop.time() < deadline:
            count = dropped((await product.client.get("/metrics")).text)
            if count > 0:
                break
            await asyncio.sleep(0.2)
        assert count > 0
        # The service still answers at once while its records pile up undelivered.
        assert (await product.client.get("/api/v1/products")).status_code == 200
