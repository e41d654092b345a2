"""A database that stops answering gets the client a prompt 503 with Retry-After, not a hang.

The statement is held by a row lock the test takes (as a frozen or overloaded server
would hold it); the service's command timeout ends the wait, well before its callers'.
"""

from __future__ import annotations

import asyncpg
from sqlalchemy.engine import make_url

from tests.conftest import Harness
from tests.integration.gateway.test_gateway import PASSWORD
from tests.integration.platform.test_graceful_drain import ADDRESS, AUTH, ME, wait_until


async def test_a_statement_the_database_does_not_answer_is_a_503_with_retry_after(
    harness: Harness,
):
    auth = await harness.start("auth")
    user = await harness.start("user", db_command_timeout_seconds=1)
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
        async with db.transaction():
            await db.execute("SELECT 1 FROM profiles FOR UPDATE")
            response = await user.client.post(f"{ME}/addresses", json=ADDRESS, headers=headers)
    finally:
        await db.close()

    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert int(response.headers["retry-after"]) >= 1
