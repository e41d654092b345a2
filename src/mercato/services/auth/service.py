"""auth's use cases: registration, login, refresh rotation, logout, service tokens, roles."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError

from mercato import catalog
from mercato.contracts.auth import LoginFailed, LoginSucceeded, RolesChanged, UserRegistered
from mercato.platform.db import UnitOfWork, utcnow
from mercato.platform.errors import Conflict, NotFound, TooManyRequests, Unauthorized
from mercato.platform.metrics import Labelled
from mercato.platform.security import SERVICE_SUBJECT_PREFIX, derive_client_secret
from mercato.services.auth import repository
from mercato.services.auth.keys import KeyRing, new_token_id
from mercato.services.auth.models import RefreshToken, User
from mercato.services.auth.passwords import Passwords
from mercato.services.auth.settings import Settings

log = logging.getLogger("mercato.auth")


@dataclass(frozen=True)
class IssuedTokens:
    """What a login or refresh hands out."""

    access_token: str
    refresh_token: str
    expires_in: int


def _hash_refresh_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class Accounts:
    """The auth use cases; each opens and commits its own unit of work."""

    def __init__(
        self,
        *,
        settings: Settings,
        unit_of_work: Callable[[], UnitOfWork],
        passwords: Passwords,
        keys: KeyRing,
        logins: Labelled | None = None,
        registrations: Labelled | None = None,
    ) -> None:
        self._settings = settings
        self._uow = unit_of_work
        self._passwords = passwords
        self._keys = keys
        self._logins = logins
        self._registrations = registrations

    async def register(
        self, *, email: str, password: str, name: str, roles: list[str] | None = None
    ) -> User:
        """Creates an account and announces it with ``user.registered``."""
        password_hash = await self._passwords.hash(password)
        now = utcnow()
        user = User(
            id=uuid.uuid4(),
            email=email,
            name=name,
            password_hash=password_hash,
            roles=roles or ["customer"],
            created_at=now,
            updated_at=now,
        )
        async with self._uow() as uow:
            uow.session.add(user)
            try:
                await uow.session.flush()
            except IntegrityError:
                raise Conflict("An account with this email already exists.") from None
            await uow.publish(
                UserRegistered(user_id=user.id, email=user.email, name=user.name, roles=user.roles),
                subject=user.id,
            )
            await uow.commit()
        if self._registrations is not None:
            self._registrations.inc()
        return user

    async def login(self, *, email: str, password: str, client: str) -> IssuedTokens:
        """Checks the password, throttling repeated failures per account and per address."""
        now = utcnow()
        account_key, address_key = f"account:{email}", f"address:{client}"
        async with self._uow() as uow:
            locked = await repository.locked_until(uow.session, [account_key, address_key], now)
            if locked is not None:
                self._count_login("locked")
                raise TooManyRequests(
                    "Too many failed logins; try again later.",
                    retry_after=int((locked - now).total_seconds()) + 1,
                )
            user = await repository.user_by_email(uow.session, email)
        # Hashing takes tens of milliseconds: hold no pooled connection meanwhile.
        valid = await self._passwords.verify(user.password_hash if user else None, password)
        rehashed = None
        if user is not None and valid and self._passwords.needs_rehash(user.password_hash):
            rehashed = await self._passwords.hash(password)
        async with self._uow() as uow:
            if user is None or not valid:
                await self._count_failure(uow, account_key, address_key, now)
                await uow.publish(LoginFailed(email=email, client=client), subject=email)
                await uow.commit()
                self._count_login("failed")
                raise Unauthorized("The email or password is wrong.")
            await repository.clear_failures(uow.session, account_key)
            if rehashed is not None:
                await repository.set_password_hash(uow.session, user.id, rehashed)
            refresh = self._new_refresh_token(uow, user.id, family_id=uuid.uuid4(), now=now)
            await uow.publish(LoginSucceeded(user_id=user.id, client=client), subject=user.id)
            await uow.commit()
        self._count_login("succeeded")
        return self._issue(user, refresh, now)

    async def refresh(self, *, refresh_token: str) -> IssuedTokens:
        """Rotates a refresh token; a reused one revokes its whole family."""
        now = utcnow()
        async with self._uow() as uow:
            stored = await repository.refresh_token_for_update(
                uow.session, _hash_refresh_token(refresh_token)
            )
            if stored is None or stored.revoked_at is not None:
                raise Unauthorized("The refresh token is not valid.")
            if stored.used_at is not None:
                await repository.revoke_family(uow.session, stored.family_id, now)
                await uow.commit()
                log.warning(
                    "refresh token reused; session revoked",
                    extra={"user_id": str(stored.user_id), "family_id": str(stored.family_id)},
                )
                raise Unauthorized("The refresh token was already used; the session is revoked.")
            if stored.expires_at <= now:
                raise Unauthorized("The refresh token has expired.")
            user = await repository.user_by_id(uow.session, stored.user_id)
            if user is None:
                raise Unauthorized("The refresh token is not valid.")
            stored.used_at = now
            refresh = self._new_refresh_token(uow, user.id, family_id=stored.family_id, now=now)
            await uow.commit()
        return self._issue(user, refresh, now)

    async def logout(self, *, refresh_token: str) -> None:
        """Revokes the session the refresh token belongs to (silently if unknown)."""
        async with self._uow() as uow:
            stored = await repository.refresh_token_for_update(
                uow.session, _hash_refresh_token(refresh_token)
            )
            if stored is not None:
                await repository.revoke_family(uow.session, stored.family_id, utcnow())
                await uow.commit()

    def service_token(self, *, client_id: str, client_secret: str) -> tuple[str, int]:
        """A client-credentials access token for a catalog service."""
        expected = derive_client_secret(self._settings.secret_key.get_secret_value(), client_id)
        known = client_id in catalog.SERVICES and catalog.get(client_id).calls_with_own_identity
        if not (hmac.compare_digest(expected, client_secret) and known):
            raise Unauthorized("The client credentials are not valid.")
        ttl = self._settings.service_token_ttl_seconds
        now = utcnow()
        token = self._keys.sign(
            self._claims(SERVICE_SUBJECT_PREFIX + client_id, ["service"], now, ttl)
        )
        return token, ttl

    async def set_roles(self, *, user_id: uuid.UUID, roles: list[str], actor: str) -> User:
        """Replaces an account's roles."""
        async with self._uow() as uow:
            user = await repository.user_by_id(uow.session, user_id)
            if user is None:
                raise NotFound("No such user.")
            before = list(user.roles)
            user.roles = sorted(set(roles))
            user.updated_at = utcnow()
            await uow.publish(
                RolesChanged(user_id=user.id, before=before, after=user.roles, actor=actor),
                subject=user.id,
            )
            await uow.commit()
        return user

    async def create_admin(self, *, email: str, password: str, name: str = "Administrator") -> User:
        """Creates an administrator, or makes an existing account one with this password."""
        async with self._uow() as uow:
            user = await repository.user_by_email(uow.session, email)
            if user is not None:
                user.roles = sorted({*user.roles, "admin", "customer"})
                user.password_hash = await self._passwords.hash(password)
                user.updated_at = utcnow()
                await uow.publish(
                    RolesChanged(user_id=user.id, after=user.roles, actor="cli"), subject=user.id
                )
                await uow.commit()
                return user
        return await self.register(
            email=email, password=password, name=name, roles=["admin", "customer"]
        )

    # -- helpers ------------------------------------------------------------

    def _count_login(self, result: str) -> None:
        if self._logins is not None:
            self._logins.labels(result=result).inc()

    async def _count_failure(
        self, uow: UnitOfWork, account_key: str, address_key: str, now: datetime
    ) -> None:
        window_start = now - timedelta(seconds=self._settings.login_window_seconds)
        lock_until = now + timedelta(seconds=self._settings.login_lockout_seconds)
        limits = (
            (account_key, self._settings.login_max_failures_per_account),
            (address_key, self._settings.login_max_failures_per_address),
        )
        for key, limit in limits:
            if await repository.count_failure(uow.session, key, now, window_start) >= limit:
                await repository.lock(uow.session, key, lock_until)

    def _new_refresh_token(
        self, uow: UnitOfWork, user_id: uuid.UUID, *, family_id: uuid.UUID, now: datetime
    ) -> str:
        token = secrets.token_urlsafe(32)
        uow.session.add(
            RefreshToken(
                id=uuid.uuid4(),
                family_id=family_id,
                user_id=user_id,
                token_hash=_hash_refresh_token(token),
                created_at=now,
                expires_at=now + timedelta(days=self._settings.refresh_token_ttl_days),
            )
        )
        return token

    def _issue(self, user: User, refresh_token: str, now: datetime) -> IssuedTokens:
        ttl = self._settings.access_token_ttl_seconds
        access = self._keys.sign(self._claims(str(user.id), user.roles, now, ttl))
        return IssuedTokens(access_token=access, refresh_token=refresh_token, expires_in=ttl)

    def _claims(self, subject: str, roles: list[str], now: datetime, ttl: int) -> dict[str, Any]:
        issued = int(now.timestamp())
        return {
            "iss": self._settings.jwt_issuer,
            "aud": self._settings.jwt_audience,
            "sub": subject,
            "roles": list(roles),
            "iat": issued,
            "nbf": issued,
            "exp": issued + ttl,
            "jti": new_token_id(),
        }
