"""What keeps the web pages safe, checked on the shared platform: security headers on every
web file, product text that looks like markup staying text, and session endpoints that a
page of another site cannot drive (CSRF). /docs and /openapi.json still answer.
"""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import expect

from tests.e2e.web import Shop, Tab

pytestmark = pytest.mark.e2e

MARKUP = "<img src=x onerror=alert(1)>"


@pytest.mark.parametrize(
    "path", ["/", "/admin", "/assets/js/store.js", "/assets/css/app.css", "/assets/icon.svg"]
)
def test_every_web_file_carries_the_security_headers(web: Shop, path: str):
    served = httpx.get(web.url + path)
    assert served.status_code == 200
    policy = {
        directive.split()[0]: directive.split()[1:]
        for directive in served.headers["content-security-policy"].split("; ")
    }
    assert policy["default-src"] == ["'none'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"]
    assert "'unsafe-inline'" not in served.headers["content-security-policy"]
    assert "'unsafe-eval'" not in served.headers["content-security-policy"]
    assert served.headers["x-content-type-options"] == "nosniff"
    assert served.headers["referrer-policy"] == "no-referrer"


def test_the_api_documentation_moved_off_the_root_but_still_answers(web: Shop):
    assert httpx.get(web.url + "/docs").status_code == 200
    assert "/api/v1/products" in httpx.get(web.url + "/openapi.json").json()["paths"]
    assert 'href="/docs"' in httpx.get(web.url + "/").text


def test_a_product_named_like_markup_is_shown_as_text(tab: Tab, web: Shop):
    product = web.new_product(MARKUP, f"Described as {MARKUP} too.", stock=3)
    page = tab.go(f"/#/product/{product['id']}")
    expect(page.get_by_role("heading", level=1)).to_have_text(MARKUP)
    expect(page.get_by_text(f"Described as {MARKUP} too.")).to_be_visible()
    expect(page.get_by_text("Only 3 left")).to_be_visible()

    page.goto("/#/?sort=newest")
    expect(page.get_by_role("link", name=MARKUP).first).to_be_visible()
    assert page.locator('img[src="x"]').count() == 0
    assert tab.dialogs == []


def test_session_endpoints_refuse_what_another_site_could_send(web: Shop):
    body = {"email": "nobody@example.com", "password": "whatever-it-is"}
    without_header = httpx.post(f"{web.url}/session", json=body)
    assert without_header.status_code == 400
    assert without_header.headers["content-type"] == "application/problem+json"
    foreign = httpx.post(
        f"{web.url}/session",
        json=body,
        headers={"X-Mercato-Session": "1", "Origin": "https://evil.example"},
    )
    assert foreign.status_code == 403
    assert foreign.headers["content-type"] == "application/problem+json"
    no_cookie = httpx.post(f"{web.url}/session/refresh", headers={"X-Mercato-Session": "1"})
    assert no_cookie.status_code == 401


def test_signing_in_answers_the_access_token_and_keeps_the_refresh_token_in_the_cookie(
    web: Shop,
):
    who = web.customer("cookie", signed_in=False)
    signed = httpx.post(
        f"{web.url}/session",
        json={"email": who.email, "password": who.password},
        headers={"X-Mercato-Session": "1", "Origin": web.url},
    )
    assert signed.status_code == 200, signed.text
    assert "refresh_token" not in signed.json()
    assert signed.json()["token_type"] == "Bearer"
    cookie = signed.headers["set-cookie"]
    for attribute in ("HttpOnly", "Secure", "SameSite=Strict", "Path=/session"):
        assert attribute in cookie
    me = web.api.get(
        "/users/me", headers={"Authorization": f"Bearer {signed.json()['access_token']}"}
    )
    assert me.status_code in (200, 404)  # the profile follows registration by an event

    # The cookie is rotated on refresh; the old one is then refused (auth's reuse check).
    old = signed.cookies["mercato_refresh"]
    renewed = httpx.post(
        f"{web.url}/session/refresh",
        headers={"X-Mercato-Session": "1"},
        cookies={"mercato_refresh": old},
    )
    assert renewed.status_code == 200, renewed.text
    assert renewed.cookies["mercato_refresh"] != old
    replayed = httpx.post(
        f"{web.url}/session/refresh",
        headers={"X-Mercato-Session": "1"},
        cookies={"mercato_refresh": old},
    )
    assert replayed.status_code == 401
    assert 'mercato_refresh=""' in replayed.headers["set-cookie"]


def test_a_wrong_password_through_the_session_is_auths_problem_relayed(web: Shop):
    who = web.customer("wrong", signed_in=False)
    refused = httpx.post(
        f"{web.url}/session",
        json={"email": who.email, "password": "not-the-password"},
        headers={"X-Mercato-Session": "1"},
    )
    assert refused.status_code == 401
    assert refused.headers["content-type"] == "application/problem+json"
    assert "set-cookie" not in refused.headers
