"""Settings of the auth service."""

from __future__ import annotations

from typing import ClassVar

from pydantic import SecretStr

from mercato.platform.settings import ServiceSettings, dev_secret


class Settings(ServiceSettings):
    """auth's settings: token lifetimes, password hashing cost, login throttling."""

    secret_fields: ClassVar[tuple[str, ...]] = ("secret_key",)

    service: str = "auth"
    # Encrypts signing keys at rest and derives service client secrets.
    secret_key: SecretStr = dev_secret("auth-secret-key")

    access_token_ttl_seconds: int = 900
    service_token_ttl_seconds: int = 900
    refresh_token_ttl_days: int = 30
    key_reload_seconds: float = 30.0

    # argon2id cost; docs/adr/0003-password-hashing.md explains the choice.
    argon2_time_cost: int = 2
    argon2_memory_kib: int = 19 * 1024
    argon2_parallelism: int = 1
    argon2_max_concurrent: int = 2

    login_window_seconds: int = 900
    login_max_failures_per_account: int = 5
    login_max_failures_per_address: int = 20
    login_lockout_seconds: int = 900
