"""Request and response bodies of the auth API."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel, EmailStr, Field, field_validator

from mercato.contracts.auth import ClientCredentials, Jwks, ServiceToken
from mercato.platform.schemas import Strict

__all__ = [
    "ClientCredentials",
    "Credentials",
    "Jwks",
    "RefreshRequest",
    "Role",
    "RolesUpdate",
    "ServiceToken",
    "TokenPair",
    "UserCreate",
    "UserPublic",
]

Role = Literal["customer", "admin"]

_COMMON_PASSWORDS = frozenset(
    {
        "password",
        "password1",
        "password123",
        "passw0rd",
        "123456789",
        "1234567890",
        "qwertyuiop",
        "iloveyou",
        "letmein123",
        "welcome123",
        "administrator",
        "changeme123",
    }
)


class UserCreate(Strict):
    """Registration: the email to log in with, a password and a display name."""

    email: EmailStr
    password: str = Field(min_length=10, max_length=128)
    name: str = Field(min_length=1, max_length=200)

    @field_validator("email")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.lower()

    @field_validator("password")
    @classmethod
    def _strong(cls, value: str) -> str:
        if value.lower() in _COMMON_PASSWORDS or len(set(value)) < 5:
            raise ValueError("the password is too easy to guess")
        return value


class UserPublic(BaseModel):
    """An account as the API shows it."""

    id: uuid.UUID
    email: str
    roles: list[str]


class Credentials(Strict):
    """Login."""

    email: EmailStr
    password: str = Field(min_length=1, max_length=128)

    @field_validator("email")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.lower()


class TokenPair(BaseModel):
    """An access token and the refresh token that renews it."""

    access_token: str
    refresh_token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 (the OAuth token type)
    expires_in: int


class RefreshRequest(Strict):
    """A refresh token to rotate or revoke."""

    refresh_token: str = Field(min_length=1, max_length=200)


class RolesUpdate(Strict):
    """The complete set of roles an account should hold."""

    roles: list[Role] = Field(min_length=1)
