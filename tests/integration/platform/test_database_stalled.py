"""A database that stops answering gets the client a prompt 503 with Retry-After, not a hang.

The statement is held by a row lock the test takes (as a frozen or overloaded server
would hold it); the service's command timeout ends the wait, well before its callers'.
"""

from __future__ import annotations

from tests.conftest import Harness
from tests.integration.platform.held_profile import (
    ADDRESS,
    ME,
    connect,
    customer_with_profile,
)


async def test_a_statement_the_database_does_not_answer_is_a_503_with_retry_after(
    harness: Harness,
):
    auth = await harness.start("auth")
    user = await harness.start("user", db_command_timeout_seconds=1)
    headers = await customer_with_profile(auth, user)
    db = await connect(user.settings.database_url or "")
    try:
        async with db.transaction():
            await db.execute("SELECT 1 FROM profiles FOR UPDATE")
            response = await user.client.post(f"{ME}/addresses", json=ADDRESS, headers=headers)
    finally:
        await db.close()

    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert int(response.headers["retry-after"]) >= 1
