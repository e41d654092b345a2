"""A frozen process (SIGSTOP) is down within three probe rounds and ok once it resumes."""

from __future__ import annotations

import asyncio
import os
import re
import signal

from tests.conftest import Harness, RunningService
from tests.integration.health.conftest import StartHealth
from tests.integration.health.test_status import states, status_when

ROUNDS = re.compile(
    r'mercato_health_probe_duration_seconds_count\{kind="service",service="health",'
    r'target="payment"\} (\d+)'
)


async def rounds_probed(health: RunningService) -> int:
    """How many times health has probed payment so far."""
    match = ROUNDS.search((await health.client.get("/metrics")).text)
    assert match is not None
    return int(float(match.group(1)))


async def test_a_frozen_service_is_down_within_three_rounds_and_ok_after_it_resumes(
    harness: Harness, start_health: StartHealth
) -> None:
    payment = await harness.spawn("payment")
    health = await start_health(probe_interval_seconds=1.0, probe_timeout_seconds=0.5)
    await status_when(health, lambda b: states(b, "services")["payment"] == "ok")

    before = await rounds_probed(health)
    os.kill(payment.process.pid, signal.SIGSTOP)
    try:
        body = await status_when(health, lambda b: states(b, "services")["payment"] == "down")
        # The round that saw it down is at most the third one begun after the freeze.
        assert await rounds_probed(health) - before <= 3 + 1  # + the round /metrics raced
        assert body["status"] == "down"  # nor is the gateway running in this test
    finally:
        os.kill(payment.process.pid, signal.SIGCONT)

    await status_when(health, lambda b: states(b, "services")["payment"] == "ok")
    # The process itself was never restarted: it resumed where it stopped.
    assert payment.process.returncode is None
    await asyncio.wait_for(payment.client.get("/health"), 10)
