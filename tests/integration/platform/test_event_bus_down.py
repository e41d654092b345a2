"""An event bus that goes down costs the client nothing: a change that announces an event is
answered at once (the event waits in the service's outbox, written in the change's own
transaction), and the relay publishes it once the bus is back.

The bus is a NATS of this test's own (the runner's launcher), so stopping it leaves the
session's engines alone.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from mercato.runner.engines import EnginePorts, Nats, engines_for
from tests.conftest import TEST_SECRETS, Harness
from tests.integration.platform.held_profile import ME, connect, customer_with_profile, wait_until

UNPUBLISHED = "SELECT count(*) FROM outbox WHERE type = 'user.updated' AND published_at IS NULL"
PUBLISHED = "SELECT count(*) FROM outbox WHERE type = 'user.updated' AND published_at IS NOT NULL"


class OwnBus:
    """A NATS that the test stops and starts again on the same data and port."""

    def __init__(self, base: Path) -> None:
        launcher = engines_for(
            base, EnginePorts.free(), TEST_SECRETS, postgres_home=base / "postgres"
        )["nats"]
        assert isinstance(launcher, Nats)
        self.engine = launcher
        self.log = base / "nats.log"
        self.process: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        self.process = self.engine.start(self.log)
        await asyncio.to_thread(self.engine.wait_ready, self.process, 60.0)

    def stop(self) -> None:
        if self.process is not None:
            self.engine.stop(self.process)
            self.process = None


@pytest.fixture
async def own_bus(tmp_path: Path) -> AsyncIterator[OwnBus]:
    bus = OwnBus(tmp_path)
    await bus.start()
    try:
        yield bus
    finally:
        bus.stop()


async def test_a_change_while_the_event_bus_is_down_is_answered_and_its_event_sent_later(
    harness: Harness, own_bus: OwnBus
):
    auth = await harness.start("auth", nats_url=own_bus.engine.url)
    user = await harness.start("user", nats_url=own_bus.engine.url)
    headers = await customer_with_profile(auth, user)
    db = await connect(user.settings.database_url or "")
    try:
        own_bus.stop()
        changed = await user.client.patch(ME, json={"name": "Ada L."}, headers=headers)

        assert changed.status_code == 200, changed.text
        assert changed.json()["name"] == "Ada L."
        assert await db.fetchval(UNPUBLISHED) == 1
        assert (await user.client.get("/ready")).status_code == 503

        await own_bus.start()

        async def relayed() -> bool:
            return await db.fetchval(PUBLISHED) == 1

        await wait_until("the event was never relayed once NATS was back", relayed, timeout=60)
        assert await db.fetchval(UNPUBLISHED) == 0
    finally:
        await db.close()
