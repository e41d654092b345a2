"""A database that goes away mid-statement (shut down, restarting, recovering after a crash)
gets the client a 503 with Retry-After, not a 500.

PostgreSQL answers such statements and connections with SQLSTATE class 57 (57P01: the
connection was terminated by a shutdown, 57P03: the server is still recovering). The test
holds a row lock so the service's statement waits in the server, then terminates that
backend as a shutdown would.
"""

from __future__ import annotations

import asyncio

from tests.conftest import Harness
from tests.integration.platform.held_profile import (
    ADDRESS,
    ME,
    connect,
    customer_with_profile,
    wait_until,
)

WAITING = (
    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
    "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
)
# What a fast shutdown does to every client: the backend ends with SQLSTATE 57P01.
TERMINATE_WAITING = (
    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
    "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
)


async def test_a_statement_ended_by_a_database_shutdown_is_a_503_with_retry_after(
    harness: Harness,
):
    auth = await harness.start("auth")
    user = await harness.start("user", db_command_timeout_seconds=30)
    headers = await customer_with_profile(auth, user)
    db = await connect(user.settings.database_url or "")
    try:
        async with db.transaction():
            await db.execute("SELECT 1 FROM profiles FOR UPDATE")
            request = asyncio.create_task(
                user.client.post(f"{ME}/addresses", json=ADDRESS, headers=headers)
            )

            async def service_waits() -> bool:
                return bool(await db.fetch(WAITING))

            await wait_until("the service's statement never waited on the lock", service_waits)
            await db.execute(TERMINATE_WAITING)
            response = await request
    finally:
        await db.close()

    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert int(response.headers["retry-after"]) >= 1
    assert response.json()["status"] == 503
