"""Settings shared by every service: ``MERCATO_`` environment variables, three profiles.

``dev`` runs with generated development secrets; ``stg`` and ``prod`` refuse to start
while any secret is missing or still a development default, and say which variables
to set.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, ClassVar

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from mercato import catalog

DEV_SECRET_PREFIX = "dev-only-insecure-"  # noqa: S105 (marks defaults to refuse)


def dev_secret(name: str) -> SecretStr:
    """A development-only default secret, recognisable so stg and prod can refuse it."""
    return SecretStr(DEV_SECRET_PREFIX + name)


class Profile(StrEnum):
    """Where the service runs: development, staging or production."""

    dev = "dev"
    stg = "stg"
    prod = "prod"


class InsecureSettingsError(RuntimeError):
    """Settings refused: a deployed profile without its secrets, or a control made void.

    Not a ValueError on purpose: pydantic would wrap one in a ValidationError (which
    callers cannot tell apart and which echoes the input values, secrets included).
    """


class ServiceSettings(BaseSettings):
    """Settings every service reads; each service subclasses it to add its own."""

    model_config = SettingsConfigDict(env_prefix="MERCATO_", extra="ignore", frozen=True)

    # Names of the SecretStr fields the stg/prod guard checks; subclasses extend it.
    secret_fields: ClassVar[tuple[str, ...]] = ("client_secret",)

    service: str = "unnamed"
    env: Profile = Profile.dev
    version: str = "0.1.0"
    commit: str = "unknown"

    host: str = "127.0.0.1"
    port: int = catalog.CONTAINER_PORT
    log_level: str = "info"
    graceful_timeout_seconds: int = 20
    max_body_bytes: int = 1024 * 1024
    # Peers whose X-Forwarded-For uvicorn may believe and rewrite the socket peer from
    # (uvicorn's syntax: "10.0.0.1,10.0.0.2", "*"); empty turns that rewriting off, as
    # it must stay on the gateway and behind it (ADR 0025).
    forwarded_allow_ips: str = ""

    database_url: str | None = None
    db_pool_size: int = 5
    db_max_overflow: int = 5
    db_pool_timeout_seconds: float = 5.0
    # A statement (or a new connection) taking longer fails, and the request gets its 503:
    # a frozen or unreachable database must not hold requests past the callers' timeouts
    # (5 s between services, http_timeout_seconds), so this stays well under them.
    db_command_timeout_seconds: float = 2.0

    nats_url: str | None = None
    event_prefix: str = "mercato"
    # Copies of the events stream JetStream keeps: the number of NATS nodes (3 in prod).
    event_stream_replicas: int = 1

    s3_endpoint: str | None = None
    s3_public_endpoint: str | None = None
    s3_region: str = "us-east-1"
    s3_access_key: SecretStr | None = None
    s3_secret_key: SecretStr | None = None
    s3_bucket_prefix: str = "mercato-"
    # IRSA (ADR 0024): EKS's pod identity webhook sets these standard variables; with
    # them the S3 keys are temporary ones from STS, and no static key is needed.
    aws_role_arn: str | None = Field(default=None, validation_alias="AWS_ROLE_ARN")
    aws_web_identity_token_file: str | None = Field(
        default=None, validation_alias="AWS_WEB_IDENTITY_TOKEN_FILE"
    )

    jwt_issuer: str = "mercato-auth"
    jwt_audience: str = "mercato"
    jwks_cache_seconds: int = 300

    # How to reach other services: a template with {name} and {port}, or one URL per service.
    service_url_template: str = "http://127.0.0.1:{port}"
    service_urls: dict[str, str] = Field(default_factory=dict)
    http_timeout_seconds: float = 5.0
    http_connect_timeout_seconds: float = 1.0
    http_retries: int = 2

    client_secret: SecretStr | None = None

    # The SMTP relay of services that send mail (catalog ``smtp``); locally the runner's sink.
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_starttls: bool = False
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str = "Mercato <no-reply@mercato.localhost>"

    # Where the chassis ships its log records (the log service's OTLP/HTTP logs route); off
    # when unset. The runner sets it for every service once the log service runs.
    log_shipping_url: str | None = None

    # Crash points for recovery tests (mercato.platform.faults); dev only.
    faults: str = ""

    @model_validator(mode="after")
    def _refuse_insecure_secrets(self) -> ServiceSettings:
        if self.env is Profile.dev:
            return self
        if self.faults.strip():
            raise InsecureSettingsError(
                f"refusing to start {self.service} in profile {self.env.value}: "
                "MERCATO_FAULTS arms crash points and is for development only"
            )
        problems = []
        for name in self.required_secrets():
            value = getattr(self, name)
            secret = value.get_secret_value() if isinstance(value, SecretStr) else value
            env_name = f"MERCATO_{name.upper()}"
            if not secret:
                problems.append(f"{env_name} is not set")
            elif str(secret).startswith(DEV_SECRET_PREFIX):
                problems.append(f"{env_name} still holds the development default")
            elif len(str(secret)) < 16 and name != "s3_access_key":  # an id, not a secret
                problems.append(f"{env_name} is shorter than 16 characters")
        if problems:
            raise InsecureSettingsError(
                f"refusing to start {self.service} in profile {self.env.value}: "
                + "; ".join(problems)
            )
        return self

    def required_secrets(self) -> list[str]:
        """The secret settings this service cannot run without outside dev."""
        needed = [name for name in self.secret_fields if name != "client_secret"]
        spec = catalog.SERVICES.get(self.service)
        if spec is not None:
            if spec.calls_with_own_identity:
                needed.append("client_secret")
            if spec.buckets and not self.s3_web_identity:
                needed += ["s3_access_key", "s3_secret_key"]
        return needed

    @property
    def s3_web_identity(self) -> bool:
        """True when S3 keys come from a web identity (IRSA) rather than from settings."""
        return bool(self.aws_role_arn and self.aws_web_identity_token_file)

    @property
    def spec(self) -> catalog.Service:
        """This service's catalog entry."""
        return catalog.get(self.service)

    def service_url(self, name: str) -> str:
        """Base URL of service ``name`` as this service reaches it."""
        if name in self.service_urls:
            return self.service_urls[name].rstrip("/")
        return self.service_url_template.format(name=name, port=catalog.get(name).port)

    @classmethod
    def for_service(cls, service: str, **overrides: Any) -> ServiceSettings:
        """Builds settings for ``service`` from the environment plus ``overrides``."""
        return cls(service=service, **overrides)
