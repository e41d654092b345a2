"""Builds the auth service."""

from __future__ import annotations

from fastapi import FastAPI

from mercato.platform.app import Platform
from mercato.platform.forwarding import (
    SEALED_BY,
    AddressSeal,
    forwarding_key,
    trust_sealed_addresses,
)
from mercato.platform.security import derive_client_secret
from mercato.services.auth import routes
from mercato.services.auth.keys import KeyRing
from mercato.services.auth.models import Base
from mercato.services.auth.passwords import Passwords
from mercato.services.auth.service import Accounts
from mercato.services.auth.settings import Settings


def build(settings: Settings) -> tuple[Platform, Accounts, KeyRing]:
    """The platform, use cases and key ring of auth, not yet started (also used by the CLI)."""
    platform = Platform(settings, metadata=Base.metadata)
    assert platform.database is not None
    keys = KeyRing(
        platform.database,
        secret=settings.secret_key.get_secret_value(),
        reload_seconds=settings.key_reload_seconds,
    )
    passwords = Passwords(
        time_cost=settings.argon2_time_cost,
        memory_kib=settings.argon2_memory_kib,
        parallelism=settings.argon2_parallelism,
        max_concurrent=settings.argon2_max_concurrent,
    )
    accounts = Accounts(
        settings=settings,
        unit_of_work=platform.database.unit_of_work,
        passwords=passwords,
        keys=keys,
        logins=platform.metrics.counter(
            "mercato_auth_logins_total",
            "Logins by result: succeeded, failed (wrong credentials), locked (throttled).",
            ["result"],
            known={"result": ("succeeded", "failed", "locked")},
        ),
        registrations=platform.metrics.counter(
            "mercato_auth_registrations_total", "Accounts registered."
        ),
    )
    return platform, accounts, keys


def create_app(settings: Settings | None = None) -> FastAPI:
    """The auth app: it verifies tokens with its own keys, read from its database."""
    settings = settings or Settings()
    platform, accounts, keys = build(settings)
    platform.use_token_keys(keys.jwks)
    platform.on_startup(keys.ensure_current)
    platform.add_job("signing-key-reload", keys.reload_periodically)
    app = platform.create_app(routers=[routes.router])
    app.state.accounts = accounts
    app.state.keys = keys
    # The login throttle counts per client address: believe only the gateway's, whose
    # client secret auth derives like every other.
    gateway_secret = derive_client_secret(settings.secret_key.get_secret_value(), SEALED_BY)
    trust_sealed_addresses(app, AddressSeal(forwarding_key(gateway_secret)))
    return app
