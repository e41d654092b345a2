"""The browser session: the gateway keeps the refresh token in a cookie the page cannot read.

The storefront and the admin console never see a refresh token (docs/adr/0027). Signing in
through ``POST /session`` calls auth's login and answers with the access token only; the
refresh token goes into an ``HttpOnly``, ``Secure``, ``SameSite=Strict`` cookie scoped to
``/session``, so the browser sends it to these three endpoints and nowhere else.
``POST /session/refresh`` trades it for a new pair (auth rotates it); ``DELETE /session``
revokes it. Every call must carry the ``X-Mercato-Session`` header, which a cross-site
form cannot send, and an ``Origin`` of the gateway itself when the browser names one.
"""

from __future__ import annotations

from collections.abc import Callable
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import urlsplit

import orjson
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from mercato.catalog import API_PREFIX
from mercato.platform.context import current_request_id
from mercato.platform.errors import BadRequest, DomainError, Forbidden, Unauthorized
from mercato.platform.http import HttpClients, Reply

SESSION_PATH = "/session"
SESSION_HEADER = "X-Mercato-Session"
# Relayed from auth's answers; anything else (its own request id, server) stays behind.
RELAYED_HEADERS = ("content-type", "retry-after", "www-authenticate")


class SessionCookies:
    """Signs a browser in and out, holding its refresh token in a cookie."""

    def __init__(
        self,
        *,
        http: HttpClients,
        client_headers: Callable[[Request], dict[str, str]],
        cookie_name: str,
        secure: bool,
        max_age_seconds: int,
        timeout: float,
    ) -> None:
        self._http = http
        self._client_headers = client_headers
        self._cookie_name = cookie_name
        self._secure = secure
        self._max_age = max_age_seconds
        self._timeout = timeout

    def router(self) -> APIRouter:
        """The three session endpoints."""
        router = APIRouter(prefix=SESSION_PATH, include_in_schema=False)
        router.add_api_route("", self.sign_in, methods=["POST"])
        router.add_api_route("/refresh", self.refresh, methods=["POST"])
        router.add_api_route("", self.sign_out, methods=["DELETE"])
        return router

    async def sign_in(self, request: Request) -> Response:
        """Auth's login; the access token in the body, the refresh token in the cookie."""
        self._check_same_site(request)
        return self._issued(await self._call_auth(request, "login", await request.body()))

    async def refresh(self, request: Request) -> Response:
        """A new access token from the cookie; the rotated refresh token replaces it."""
        self._check_same_site(request)
        refresh_token = request.cookies.get(self._cookie_name)
        if not refresh_token:
            raise Unauthorized("Not signed in.")
        reply = await self._call_auth(
            request, "refresh", orjson.dumps({"refresh_token": refresh_token})
        )
        response = self._issued(reply)
        if reply.status == 401:
            # Revoked, expired or reused: a cookie that can never work again goes.
            self._forget(response)
        return response

    async def sign_out(self, request: Request) -> Response:
        """Revokes the refresh token at auth and drops the cookie."""
        self._check_same_site(request)
        refresh_token = request.cookies.get(self._cookie_name)
        if refresh_token:
            try:
                await self._call_auth(
                    request, "logout", orjson.dumps({"refresh_token": refresh_token})
                )
            except DomainError as unreachable:
                # auth could not revoke it (the page says so), but this browser forgets it.
                unreachable.headers["Set-Cookie"] = self._cookie("", 0)
                raise
        response = Response(status_code=204)
        self._forget(response)
        return response

    def _check_same_site(self, request: Request) -> None:
        """Refuses what a page of another site could have sent (CSRF)."""
        if request.headers.get(SESSION_HEADER) != "1":
            raise BadRequest(f"The {SESSION_HEADER}: 1 header is required.")
        origin = request.headers.get("origin")
        if origin is not None and urlsplit(origin).netloc != request.headers.get("host"):
            raise Forbidden("Sessions are only opened from the shop's own pages.")

    async def _call_auth(self, request: Request, action: str, body: bytes) -> Reply:
        headers = {
            "content-type": "application/json",
            "x-request-id": current_request_id() or "",
            # auth throttles failed logins per client address, as behind the proxy.
            **self._client_headers(request),
        }
        upstream = self._http.to("auth")
        return await self._http.send(
            "auth",
            "POST",
            f"{upstream.base_url}{API_PREFIX}/auth/{action}",
            headers=headers,
            body=body,
            timeout=self._timeout,
            retry=False,
        )

    def _issued(self, reply: Reply) -> Response:
        """Auth's answer for the page: the token pair split between body and cookie."""
        if reply.status != 200:
            headers = {k: v for k, v in reply.headers.items() if k.lower() in RELAYED_HEADERS}
            return Response(reply.body, status_code=reply.status, headers=headers)
        pair: dict[str, Any] = reply.json()
        refresh_token = pair.pop("refresh_token")
        response = JSONResponse(pair, headers={"Cache-Control": "no-store"})
        response.headers.append("Set-Cookie", self._cookie(refresh_token, self._max_age))
        return response

    def _forget(self, response: Response) -> None:
        response.headers.append("Set-Cookie", self._cookie("", 0))

    def _cookie(self, value: str, max_age: int) -> str:
        cookie: SimpleCookie = SimpleCookie()
        cookie[self._cookie_name] = value
        morsel = cookie[self._cookie_name]
        morsel["path"] = SESSION_PATH
        morsel["max-age"] = max_age
        morsel["httponly"] = True
        morsel["samesite"] = "Strict"
        if self._secure:
            morsel["secure"] = True
        return morsel.OutputString()
