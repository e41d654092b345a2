"""The gateway's browser session (docs/adr/0027) in front of real auth: the refresh token
only ever in the cookie, and a sign-out that forgets it even when auth cannot be reached."""

from __future__ import annotations

from tests.conftest import Harness

PASSWORD = "correct horse battery"
SESSION = {"X-Mercato-Session": "1"}


async def test_a_signed_in_browser_holds_the_refresh_token_in_the_cookie_only(harness: Harness):
    await harness.start("auth")
    gateway = await harness.start("gateway", session_cookie_secure=False)
    ada = {"email": "ada@example.com", "password": PASSWORD, "name": "Ada"}
    registered = await gateway.client.post("/api/v1/auth/register", json=ada)
    assert registered.status_code == 201, registered.text
    signed = await gateway.client.post(
        "/session", json={"email": "ada@example.com", "password": PASSWORD}, headers=SESSION
    )
    assert signed.status_code == 200, signed.text
    assert set(signed.json()) >= {"access_token", "token_type", "expires_in"}
    assert "refresh_token" not in signed.json()
    assert signed.headers["cache-control"] == "no-store"
    cookie = signed.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "Path=/session" in cookie
    assert "SameSite=Strict" in cookie
    assert "Secure" not in cookie  # turned off for a plain-HTTP host that is not loopback

    signed_out = await gateway.client.delete("/session", headers=SESSION)
    assert signed_out.status_code == 204
    assert 'mercato_refresh=""' in signed_out.headers["set-cookie"]
    again = await gateway.client.post(
        "/session/refresh",
        headers={**SESSION, "Cookie": f"mercato_refresh={signed.cookies['mercato_refresh']}"},
    )
    assert again.status_code == 401


async def test_signing_out_while_auth_is_down_still_forgets_the_cookie(harness: Harness):
    gateway = await harness.start("gateway")  # auth is not running
    response = await gateway.client.delete(
        "/session", headers={**SESSION, "Cookie": "mercato_refresh=some-refresh-token"}
    )
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert 'mercato_refresh=""' in response.headers["set-cookie"]
    assert "Max-Age=0" in response.headers["set-cookie"]
