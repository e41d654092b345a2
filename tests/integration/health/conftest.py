"""health in-process, probing the test's engines and whatever services a test starts."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from mercato.runner import plan
from tests.conftest import EngineSet, Harness, RunningService

StartHealth = Callable[..., Awaitable[RunningService]]


def engine_addresses(engines: EngineSet) -> dict[str, str]:
    """The test engines' addresses, as the runner gives them to health."""
    return plan.engine_probes(
        plan.Endpoints(
            database_url=engines.postgres_url,
            nats_url=engines.nats_url,
            s3_endpoint=engines.s3_endpoint,
        )
    )


@pytest.fixture
def start_health(harness: Harness) -> StartHealth:
    """Starts health on a short interval, probing the test's engines unless told otherwise."""

    async def start(**overrides: Any) -> RunningService:
        values: dict[str, Any] = {
            "probe_interval_seconds": 0.5,
            "probe_timeout_seconds": 0.3,
            "engine_probes": engine_addresses(harness.engines),
        }
        values.update(overrides)
        return await harness.start("health", **values)

    return start
