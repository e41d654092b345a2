"""On SIGTERM a service finishes the requests it is serving before it exits.

The request is held in flight by a row lock the test takes on the customer's profile:
adding an address must wait for it (the address's foreign key), so the request is
certainly being served when the signal arrives, and ends only when the test lets it.
"""

from __future__ import annotations

import asyncio
import signal

from sqlalchemy.engine import make_url

from tests.conftest import Harness
from tests.integration.platform.held_profile import (
    ADDRESS,
    ME,
    connect,
    customer_with_profile,
    wait_until,
)


async def test_a_request_in_flight_at_sigterm_is_answered_before_the_service_exits(
    harness: Harness,
):
    auth = await harness.start("auth")
    user = await harness.spawn("user")
    headers = await customer_with_profile(auth, user)
    url = user.settings.database_url or ""
    db = await connect(url)
    try:
        lock = db.transaction()
        await lock.start()
        await db.execute("SELECT 1 FROM profiles FOR UPDATE")
        adding = asyncio.create_task(
            user.client.post(f"{ME}/addresses", json=ADDRESS, headers=headers)
        )

        async def request_waits_on_the_lock() -> bool:
            waiting = await db.fetchval(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = $1 AND wait_event_type = 'Lock'",
                make_url(url).database,
            )
            return bool(waiting)

        await wait_until("the request never reached the database", request_waits_on_the_lock)
        user.process.send_signal(signal.SIGTERM)

        async def stopped_listening() -> bool:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", user.settings.port)
            except OSError:
                return True
            writer.close()
            return False

        # The server stops taking new connections while the request is still in flight.
        await wait_until("the service kept listening after SIGTERM", stopped_listening)
        assert not adding.done()
        assert user.process.returncode is None
        await lock.rollback()

        response = await adding
    finally:
        await db.close()

    assert response.status_code == 201, response.text
    # uvicorn shuts down, then re-raises the signal it caught: the exit reads as by SIGTERM.
    assert await user.wait_exit(30) == -signal.SIGTERM
