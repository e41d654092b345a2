"""Access tokens: local verification from auth's cached JWKS, and FastAPI guards.

Tokens are EdDSA JWTs with ``typ: at+jwt``. Verification pins the algorithm
allow-list, checks ``iss``, ``aud``, ``exp``, and refreshes the key set once when a
token names a key it does not know (a rotation), at most every few seconds.

A token that passed is remembered (by its exact string, in a bounded LRU) until it
expires, so a caller's next requests skip the signature check (ADR 0035); the expiry and
the key that signed it are still checked on every request.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any

import jwt
from fastapi import Depends, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from jwt import PyJWK

from mercato import catalog
from mercato.platform.context import bearer_token_var, user_id_var
from mercato.platform.errors import Forbidden, Unauthorized

log = logging.getLogger("mercato.security")

ALLOWED_ALGORITHMS = ("EdDSA",)
ACCESS_TOKEN_TYPE = "at+jwt"  # noqa: S105 (a JWT "typ", not a secret)
SERVICE_SUBJECT_PREFIX = "service:"
LEEWAY_SECONDS = 30
# Verified tokens remembered per process; an entry is a few hundred bytes.
VERIFIED_CACHE_SIZE = 10_000

JwksFetcher = Callable[[], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class Principal:
    """Who is calling: a user (subject = user id) or a service (``service:<name>``)."""

    subject: str
    roles: frozenset[str]
    token: str
    claims: dict[str, Any]

    @property
    def is_service(self) -> bool:
        """True for a client-credentials token of a service."""
        return self.subject.startswith(SERVICE_SUBJECT_PREFIX)

    @property
    def service_name(self) -> str | None:
        """The calling service's name, for service tokens."""
        return self.subject.removeprefix(SERVICE_SUBJECT_PREFIX) if self.is_service else None

    @property
    def user_id(self) -> uuid.UUID:
        """The user's id; a service token has none."""
        if self.is_service:
            raise Forbidden("this route is for users")
        return uuid.UUID(self.subject)

    @property
    def is_admin(self) -> bool:
        """Holds the admin role."""
        return "admin" in self.roles


class JwksCache:
    """Signing keys by ``kid``, fetched from auth and refreshed when stale or unknown.

    Two budgets bound the fetches: one scheduled refresh (the cache is older than
    ``ttl``) and one on-demand refresh (a token names a ``kid`` the cache does not hold)
    per ``min_refresh_interval``. So a rotation is seen on the first token signed with
    the new key, while a flood of tokens with made-up kids, or an unreachable auth,
    costs at most two fetches per interval.
    """

    def __init__(
        self, fetch: JwksFetcher, *, ttl: float = 300.0, min_refresh_interval: float = 5.0
    ) -> None:
        self._fetch = fetch
        self._ttl = ttl
        self._min_refresh_interval = min_refresh_interval
        self._keys: dict[str, PyJWK] = {}
        self._fetched_at = float("-inf")
        self._attempted_at = float("-inf")
        self._on_demand_at = float("-inf")
        self._lock = asyncio.Lock()

    def _scheduled_due(self) -> bool:
        now = time.monotonic()
        return (
            now - self._fetched_at > self._ttl
            and now - self._attempted_at >= self._min_refresh_interval
        )

    def _on_demand_due(self, kid: str) -> bool:
        return (
            kid not in self._keys
            and time.monotonic() - self._on_demand_at >= self._min_refresh_interval
        )

    async def key(self, kid: str) -> PyJWK | None:
        """The key ``kid``; refreshes when the cache is stale or does not know it."""
        if self._scheduled_due():
            async with self._lock:
                if self._scheduled_due():
                    await self._refresh_locked()
                    return self._keys.get(kid)
        if self._on_demand_due(kid):
            async with self._lock:
                if self._on_demand_due(kid):
                    self._on_demand_at = time.monotonic()
                    await self._refresh_locked()
        return self._keys.get(kid)

    async def refresh(self) -> None:
        """Fetches the key set now (one fetch at a time)."""
        async with self._lock:
            await self._refresh_locked()

    async def _refresh_locked(self) -> None:
        self._attempted_at = time.monotonic()
        try:
            document = await self._fetch()
        except Exception:
            log.warning("could not fetch the JWKS; keeping the cached keys", exc_info=True)
            return
        keys = {}
        for entry in document.get("keys", []):
            if entry.get("kid") and entry.get("alg") in ALLOWED_ALGORITHMS:
                try:
                    keys[entry["kid"]] = PyJWK.from_dict(entry)
                except (jwt.PyJWKError, jwt.InvalidKeyError):
                    log.warning("skipping an unusable key in the JWKS", extra={"kid": entry["kid"]})
        self._keys = keys
        self._fetched_at = time.monotonic()


@dataclass(frozen=True, slots=True)
class _Verified:
    """A token that passed: its principal, the key that signed it, when it stops passing."""

    principal: Principal
    kid: str
    key: PyJWK
    refused_from: float  # wall-clock seconds: ``exp`` plus the leeway


class TokenVerifier:
    """Verifies access tokens against the cached keys, remembering those that passed."""

    def __init__(
        self,
        keys: JwksCache,
        *,
        issuer: str,
        audience: str,
        cache_size: int = VERIFIED_CACHE_SIZE,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._keys = keys
        self._issuer = issuer
        self._audience = audience
        self._cache_size = cache_size
        self._clock = clock
        self._verified: OrderedDict[str, _Verified] = OrderedDict()

    @property
    def remembered(self) -> int:
        """How many verified tokens are remembered."""
        return len(self._verified)

    async def verify(self, token: str) -> Principal:
        """The principal of a valid token; Unauthorized otherwise."""
        known = self._verified.get(token)
        if known is not None:
            if self._clock() >= known.refused_from:
                self._verified.pop(token, None)
                raise Unauthorized("The token has expired.")
            # The key set may have been refreshed (scheduled, or a rotation) since: the
            # token passes only while the very key that verified it is still published.
            if await self._keys.key(known.kid) is known.key:
                self._verified.move_to_end(token)
                return known.principal
            self._verified.pop(token, None)
        return await self._verify_signed(token)

    async def _verify_signed(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as exc:
            raise Unauthorized("The token is malformed.") from exc
        if header.get("alg") not in ALLOWED_ALGORITHMS:
            raise Unauthorized("The token's algorithm is not accepted.")
        if header.get("typ") != ACCESS_TOKEN_TYPE:
            raise Unauthorized("The token is not an access token.")
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise Unauthorized("The token is signed by an unknown key.")
        key = await self._keys.key(kid)
        if key is None:
            raise Unauthorized("The token is signed by an unknown key.")
        try:
            claims = jwt.decode(
                token,
                key=key.key,
                algorithms=list(ALLOWED_ALGORITHMS),
                audience=self._audience,
                issuer=self._issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iat", "iss", "aud", "sub", "jti"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized("The token has expired.") from exc
        except jwt.InvalidTokenError as exc:
            raise Unauthorized("The token is invalid.") from exc
        refused_from = float(claims["exp"]) + LEEWAY_SECONDS
        # PyJWT checked ``exp`` against the system clock; this is the check a remembered
        # token gets, so that both paths agree on the clock they read.
        if self._clock() >= refused_from:
            raise Unauthorized("The token has expired.")
        roles = claims.get("roles", [])
        if not isinstance(roles, list):
            raise Unauthorized("The token is invalid.")
        principal = Principal(
            subject=str(claims["sub"]), roles=frozenset(map(str, roles)), token=token, claims=claims
        )
        self._remember(token, _Verified(principal, kid, key, refused_from))
        return principal

    def _remember(self, token: str, verified: _Verified) -> None:
        if self._cache_size <= 0:
            return
        self._verified[token] = verified
        self._verified.move_to_end(token)
        while len(self._verified) > self._cache_size:
            self._verified.popitem(last=False)


def bearer_token(request: Request) -> str | None:
    """The bearer token of a request, if it carries one."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


async def authenticated(request: Request) -> Principal:
    """FastAPI dependency: the verified caller, or 401."""
    token = bearer_token(request)
    if token is None:
        raise Unauthorized("A bearer token is required.")
    verifier: TokenVerifier = request.app.state.platform.verifier
    principal = await verifier.verify(token)
    bearer_token_var.set(token)
    user_id_var.set(principal.subject)
    return principal


CurrentPrincipal = Annotated[Principal, Depends(authenticated)]


# The guards call ``authenticated`` themselves rather than depend on it: one level of
# FastAPI dependency solving fewer on every protected request. The same checks run.
async def _require_user(request: Request) -> Principal:
    principal = await authenticated(request)
    if principal.is_service:
        raise Forbidden("This route is for users.")
    return principal


async def _require_admin(request: Request) -> Principal:
    principal = await authenticated(request)
    if not principal.is_admin:
        raise Forbidden("This route is for administrators.")
    return principal


async def _require_service(request: Request) -> Principal:
    principal = await authenticated(request)
    if not _is_allowed_service(request, principal):
        raise Forbidden("This route is for services.")
    return principal


async def _require_service_or_admin(request: Request) -> Principal:
    principal = await authenticated(request)
    if not (principal.is_admin or _is_allowed_service(request, principal)):
        raise Forbidden("This route is for services and administrators.")
    return principal


def _is_allowed_service(request: Request, principal: Principal) -> bool:
    """A service token of a service the catalog lets call this one."""
    name = principal.service_name
    if name is None or "service" not in principal.roles:
        return False
    return name in catalog.service_callers(request.app.state.platform.settings.service)


CurrentUser = Annotated[Principal, Depends(_require_user)]
AdminUser = Annotated[Principal, Depends(_require_admin)]
CallingService = Annotated[Principal, Depends(_require_service)]
ServiceOrAdmin = Annotated[Principal, Depends(_require_service_or_admin)]


class Audience(StrEnum):
    """Who a route admits, read from the guard in its signature (:func:`route_audience`)."""

    PUBLIC = "public"  # no token at all
    CUSTOMER = "customer"  # any signed-in caller; the route scopes what it shows to the caller
    ADMIN = "admin"
    SERVICE = "service"  # the services the catalog lets call this one
    SERVICE_OR_ADMIN = "service-or-admin"


# Strongest guard first: a route that asks for a principal and for an admin is an admin route.
_GUARDS: tuple[tuple[Callable[..., Any], Audience], ...] = (
    (_require_admin, Audience.ADMIN),
    (_require_service_or_admin, Audience.SERVICE_OR_ADMIN),
    (_require_service, Audience.SERVICE),
    (_require_user, Audience.CUSTOMER),
    (authenticated, Audience.CUSTOMER),
)


def route_audience(route: APIRoute) -> Audience:
    """The audience of a route: the strongest guard among its dependencies, else public."""
    calls = set(_dependency_calls(route.dependant))
    return next((audience for guard, audience in _GUARDS if guard in calls), Audience.PUBLIC)


def _dependency_calls(dependant: Dependant) -> Iterator[Any]:
    for dependency in dependant.dependencies:
        yield dependency.call
        yield from _dependency_calls(dependency)


class ServiceTokenProvider:
    """Client-credentials tokens for this service, cached until shortly before expiry."""

    def __init__(self, fetch: Callable[[], Awaitable[dict[str, Any]]]) -> None:
        self._fetch = fetch
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()

    async def __call__(self) -> str:
        if self._token and time.monotonic() < self._expires_at:
            return self._token
        async with self._lock:
            if self._token and time.monotonic() < self._expires_at:
                return self._token
            grant = await self._fetch()
            self._token = str(grant["access_token"])
            self._expires_at = time.monotonic() + max(5.0, float(grant["expires_in"]) - 30.0)
            return self._token


def derive_client_secret(master: str, client_id: str) -> str:
    """The client secret of service ``client_id``, derived from auth's master secret.

    Auth recomputes it to check a client-credentials grant; the runner (or the
    deployment's secret store) hands each service only its own.
    """
    digest = hmac.new(master.encode(), f"mercato-client:{client_id}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(digest.digest()).decode().rstrip("=")
