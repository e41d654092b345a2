"""auth's contracts: the client-credentials grant, the JWKS, and its events."""

from __future__ import annotations

import uuid
from typing import ClassVar, Literal

from pydantic import BaseModel, Field

from mercato.contracts.calls import Call
from mercato.platform.envelope import EventPayload
from mercato.platform.schemas import Strict


class ClientCredentials(Strict):
    """RFC 6749 section 4.4 grant, as JSON or as a form."""

    grant_type: Literal["client_credentials"]
    client_id: str = Field(min_length=1, max_length=100)
    client_secret: str = Field(min_length=1, max_length=200)


class ServiceToken(BaseModel):
    """A client-credentials access token."""

    access_token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 (the OAuth token type)
    expires_in: int


class Jwks(BaseModel):
    """A JSON Web Key Set."""

    keys: list[dict[str, str]]


class UserRegistered(EventPayload):
    """An account was created: user builds the profile from it."""

    event_type: ClassVar[str] = "user.registered"

    user_id: uuid.UUID
    email: str
    name: str
    roles: list[str]


class LoginSucceeded(EventPayload):
    """Someone logged in (audit)."""

    event_type: ClassVar[str] = "auth.login_succeeded"

    user_id: uuid.UUID
    client: str


class LoginFailed(EventPayload):
    """A login was refused: unknown email or wrong password (audit)."""

    event_type: ClassVar[str] = "auth.login_failed"

    email: str
    client: str


class RolesChanged(EventPayload):
    """An account's roles were replaced (audit); ``before`` is absent when the CLI made an admin."""

    event_type: ClassVar[str] = "auth.roles_changed"

    user_id: uuid.UUID
    before: list[str] | None = None
    after: list[str]
    actor: str


CALLS = (
    Call(
        "POST",
        "/api/v1/auth/token",
        "A client-credentials access token for the calling service.",
        body=ClientCredentials,
        answers={200: ServiceToken},
    ),
    Call(
        "GET",
        "/api/v1/auth/jwks.json",
        "The public keys that verify access tokens.",
        answers={200: Jwks},
    ),
)
