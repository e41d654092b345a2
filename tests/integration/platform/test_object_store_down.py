"""An object store that goes down gets the client a prompt 503 with Retry-After, not a 500 or
a hang, and the same service answers again once the store is back.

The request that needs S3: a profile whose avatar upload is pending asks S3 whether the
picture arrived. The store is a SeaweedFS of this test's own (the runner's launcher), so
stopping it leaves the session's engines alone.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from mercato.runner.engines import EnginePorts, SeaweedS3, engines_for
from tests.conftest import TEST_SECRETS, Harness
from tests.integration.platform.held_profile import ME, customer_with_profile

PICTURE = b"\x89PNG\r\n\x1a\n" + b"\x00" * 120


class OwnStore:
    """A SeaweedFS that the test stops and starts again on the same data and ports."""

    def __init__(self, base: Path) -> None:
        launcher = engines_for(
            base, EnginePorts.free(), TEST_SECRETS, postgres_home=base / "postgres"
        )["s3"]
        assert isinstance(launcher, SeaweedS3)
        self.engine = launcher
        self.log = base / "s3.log"
        self.process: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        self.process = self.engine.start(self.log)
        await asyncio.to_thread(self.engine.wait_ready, self.process, 120.0)

    def stop(self) -> None:
        if self.process is not None:
            self.engine.stop(self.process)
            self.process = None


@pytest.fixture
async def own_store(tmp_path: Path) -> AsyncIterator[OwnStore]:
    store = OwnStore(tmp_path)
    await store.start()
    try:
        yield store
    finally:
        store.stop()


async def test_a_request_needing_a_stopped_object_store_is_a_503_with_retry_after(
    harness: Harness, own_store: OwnStore
):
    auth = await harness.start("auth")
    user = await harness.start("user", s3_endpoint=own_store.engine.url)
    headers = await customer_with_profile(auth, user)
    grant = await user.client.post(
        f"{ME}/avatar", json={"content_type": "image/png", "size": len(PICTURE)}, headers=headers
    )
    assert grant.status_code == 200, grant.text

    own_store.stop()
    response = await user.client.get(ME, headers=headers)

    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert int(response.headers["retry-after"]) >= 1
    assert own_store.engine.url not in response.text  # no internal address in the body
    assert (await user.client.get("/ready")).status_code == 503

    await own_store.start()
    upload = grant.json()
    async with httpx.AsyncClient() as s3:
        stored = await s3.put(upload["upload_url"], content=PICTURE, headers=upload["headers"])
        assert stored.status_code == 200, stored.text
    profile = await user.client.get(ME, headers=headers)
    assert profile.status_code == 200, profile.text
    assert profile.json()["avatar_url"]
