"""On SIGTERM a service finishes the requests it is serving before it exits.

The request is held in flight by a row lock the test takes on the customer's profile:
adding an address must wait for it (the address's foreign key), so the request is
certainly being served when the signal arrives, and ends only when the test lets it.
"""

from __future__ import annotations

import asyncio
import signal

import asyncpg
from sqlalchemy.engine import make_url

from tests.conftest import Harness
from tests.integration.gateway.test_gateway import PASSWORD

AUTH = "/api/v1/auth"
ME = "/api/v1/users/me"
ADDRESS = {"line1": "1 Rue de Rivoli", "city": "Paris", "postal_code": "75001", "country": "FR"}


async def wait_until(what: str, condition, timeout: float = 30.0) -> None:
    """Polls ``condition`` until it holds; fails with ``what`` after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await condition():
        assert loop.time() < deadline, what
        await asyncio.sleep(0.05)


async def test_a_request_in_flight_at_sigterm_is_answered_before_the_service_exits(
    harness: Harness,
):
    auth = await harness.start("auth")
    user = await harness.spawn("user")
    await auth.client.post(
        f"{AUTH}/register", json={"email": "ada@example.com", "password": PASSWORD, "name": "A"}
    )
    login = await auth.client.post(
        f"{AUTH}/login", json={"email": "ada@example.com", "password": PASSWORD}
    )
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}

    async def profile_exists() -> bool:
        return (await user.client.get(ME, headers=headers)).status_code == 200

    await wait_until("the profile never appeared", profile_exists)

    url = make_url(user.settings.database_url or "")
    db = await asyncpg.connect(
        host=url.host,
        port=url.port,
        user=url.username,
        password=url.password,
        database=url.database,
    )
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
                url.database,
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
