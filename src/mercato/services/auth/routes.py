"""HTTP routes of auth: parse, authorize, call one use case."""

from __future__ import annotations

import base64
import uuid
from typing import Any
from urllib.parse import parse_qsl

import orjson
from fastapi import APIRouter, Request, status
from pydantic import ValidationError

from mercato.catalog import API_PREFIX
from mercato.platform.deps import ClientAddress, Provided
from mercato.platform.errors import BadRequest, Unauthorized, ValidationFailed, problems
from mercato.platform.security import AdminUser
from mercato.services.auth.keys import KeyRing
from mercato.services.auth.schemas import (
    ClientCredentials,
    Credentials,
    Jwks,
    RefreshRequest,
    RolesUpdate,
    ServiceToken,
    TokenPair,
    UserCreate,
    UserPublic,
)
from mercato.services.auth.service import Accounts

router = APIRouter(prefix=f"{API_PREFIX}/auth", tags=["auth"])


@router.post("/register", status_code=status.HTTP_201_CREATED)
async def register(body: UserCreate, accounts: Provided[Accounts]) -> UserPublic:
    """Creates a customer account."""
    user = await accounts.register(email=body.email, password=body.password, name=body.name)
    return UserPublic(id=user.id, email=user.email, roles=user.roles)


@router.post("/login", responses=problems(401))
async def login(
    body: Credentials, accounts: Provided[Accounts], client: ClientAddress
) -> TokenPair:
    """Exchanges email and password for an access and a refresh token."""
    issued = await accounts.login(email=body.email, password=body.password, client=client)
    return TokenPair(**vars(issued))


@router.post("/refresh", responses=problems(401))
async def refresh(body: RefreshRequest, accounts: Provided[Accounts]) -> TokenPair:
    """Rotates the refresh token and issues a new access token."""
    issued = await accounts.refresh(refresh_token=body.refresh_token)
    return TokenPair(**vars(issued))


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(body: RefreshRequest, accounts: Provided[Accounts]) -> None:
    """Ends the session of the refresh token."""
    await accounts.logout(refresh_token=body.refresh_token)


@router.get("/jwks.json")
async def jwks(keys: Provided[KeyRing]) -> Jwks:
    """The public signing keys: the current and the previous one."""
    return Jwks.model_validate(await keys.jwks())


@router.post("/token", responses=problems(401))
async def service_token(request: Request, accounts: Provided[Accounts]) -> ServiceToken:
    """Client-credentials grant for services (JSON, form, or HTTP Basic client auth)."""
    grant = await _client_credentials(request)
    token, ttl = accounts.service_token(
        client_id=grant.client_id, client_secret=grant.client_secret
    )
    return ServiceToken(access_token=token, expires_in=ttl)


@router.put("/users/{user_id}/roles")
async def set_roles(
    user_id: uuid.UUID, body: RolesUpdate, admin: AdminUser, accounts: Provided[Accounts]
) -> UserPublic:
    """Replaces a user's roles."""
    user = await accounts.set_roles(user_id=user_id, roles=list(body.roles), actor=admin.subject)
    return UserPublic(id=user.id, email=user.email, roles=user.roles)


async def _client_credentials(request: Request) -> ClientCredentials:
    raw = await request.body()
    content_type = request.headers.get("content-type", "")
    fields: dict[str, Any]
    if content_type.startswith("application/x-www-form-urlencoded"):
        fields = dict(parse_qsl(raw.decode("utf-8", errors="replace")))
    else:
        try:
            fields = orjson.loads(raw or b"{}")
        except orjson.JSONDecodeError:
            raise BadRequest("The body is not valid JSON.") from None
        if not isinstance(fields, dict):
            raise BadRequest("The body must be a JSON object.")
    basic = request.headers.get("authorization", "")
    if basic.lower().startswith("basic "):
        try:
            client_id, _, secret = base64.b64decode(basic[6:]).decode().partition(":")
        except ValueError:
            raise Unauthorized("Malformed client authentication.") from None
        fields.update(client_id=client_id, client_secret=secret)
    try:
        return ClientCredentials.model_validate(fields)
    except ValidationError as exc:
        raise ValidationFailed(
            "The grant is invalid.",
            errors=[{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()],
        ) from None
