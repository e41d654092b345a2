"""What every deployment target derives from the catalog and the settings classes.

Kubernetes, compose and Terraform all read these functions, so a service added to the
catalog gets its image, settings, secrets, engines and network edges everywhere at once.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass

from mercato import catalog
from mercato.platform.settings import ServiceSettings

CONTAINER_PORT = catalog.CONTAINER_PORT
# The server stops accepting and drains for this long on SIGTERM (uvicorn's graceful timeout).
GRACEFUL_TIMEOUT_SECONDS: int = ServiceSettings.model_fields["graceful_timeout_seconds"].default
# Endpoints keep routing to a terminating pod for a moment; the pause lets them catch up.
PRESTOP_PAUSE_SECONDS = 5
TERMINATION_GRACE_SECONDS = PRESTOP_PAUSE_SECONDS + GRACEFUL_TIMEOUT_SECONDS + 5
RUN_AS_USER = 10001

ENGINE_PORTS = {"postgres": 5432, "nats": 4222, "s3": 9000, "smtp": 587}
NATS_CLUSTER_PORT = 6222
NATS_MONITOR_PORT = 8222
MINIO_CONSOLE_PORT = 9001
BUCKET_PREFIX: str = ServiceSettings.model_fields["s3_bucket_prefix"].default
S3_REGION: str = ServiceSettings.model_fields["s3_region"].default  # MinIO's, and SeaweedFS's
EVENT_PREFIX: str = ServiceSettings.model_fields["event_prefix"].default
IMAGE_PREFIX = "mercato/"
# The image of `mercato load` (deploy/docker/select_service.py), for the loadgenerator
# component: built and promoted with the services' images.
LOAD_GENERATOR = "loadgenerator"
LOAD_GENERATOR_IMAGE = IMAGE_PREFIX + LOAD_GENERATOR
# Engine images, pinned: the same in compose and in Kubernetes.
NATS_IMAGE = "nats:2.10.24-alpine"
MINIO_IMAGE = "quay.io/minio/minio:RELEASE.2025-04-22T22-12-26Z"
MC_IMAGE = "quay.io/minio/mc:RELEASE.2025-04-16T18-13-26Z"
POSTGRES_IMAGE = "ghcr.io/cloudnative-pg/postgresql:17.2"
PSQL_IMAGE = "postgres:17.2-alpine"
# What a prober (``probes_all`` in the catalog) checks besides the services. PostgreSQL is
# one database per service when deployed, and each service's /ready covers its own (ADR 0034).
PROBED_ENGINES = {
    "nats": f"nats://nats:{ENGINE_PORTS['nats']}",
    "s3": f"http://minio:{ENGINE_PORTS['s3']}/minio/health/live",
}


@dataclass(frozen=True)
class Deployable:
    """One catalog service as the deployment sees it."""

    spec: catalog.Service

    @property
    def name(self) -> str:
        """The service name, used for every object name."""
        return self.spec.name

    @property
    def image(self) -> str:
        """Image name without registry or tag."""
        return IMAGE_PREFIX + self.name

    @property
    def db_role(self) -> str | None:
        """The PostgreSQL role that owns the service's database (its database name)."""
        return self.spec.database

    @property
    def secret_env(self) -> tuple[str, ...]:
        """Environment variables holding the secrets the service needs outside dev."""
        return self.secret_env_for(web_identity=False)

    def secret_env_for(self, *, web_identity: bool) -> tuple[str, ...]:
        """The secret variables where S3 keys come from an IRSA role (or do not)."""
        return tuple(
            f"MERCATO_{field.upper()}"
            for field in required_secrets(self.name, web_identity=web_identity)
        )

    @property
    def smtp_secret_env(self) -> tuple[str, ...]:
        """The relay's credentials a mail-sending service reads from its SMTP secret (outside
        dev the secret also names the relay, overriding the in-cluster default)."""
        return ("MERCATO_SMTP_USERNAME", "MERCATO_SMTP_PASSWORD") if self.spec.smtp else ()

    @property
    def buckets(self) -> tuple[str, ...]:
        """Real bucket names: the settings' prefix plus each logical name."""
        return tuple(BUCKET_PREFIX + b for b in self.spec.buckets)

    def reaches(self, engine: str) -> bool:
        """True when the service talks to ``engine``: it needs it, or it probes it."""
        return engine in self.spec.engines or (self.spec.probes_all and engine in PROBED_ENGINES)

    def config_env(self) -> dict[str, str]:
        """Non-secret settings, identical in every environment and on every host."""
        env = {
            "MERCATO_SERVICE": self.name,
            "MERCATO_HOST": "0.0.0.0",  # noqa: S104 (containers listen on their own interface)
            "MERCATO_PORT": str(CONTAINER_PORT),
            "MERCATO_SERVICE_URL_TEMPLATE": "http://{name}:" + str(CONTAINER_PORT),
            "MERCATO_GRACEFUL_TIMEOUT_SECONDS": str(GRACEFUL_TIMEOUT_SECONDS),
        }
        if self.spec.uses_nats:
            env["MERCATO_NATS_URL"] = f"nats://nats:{ENGINE_PORTS['nats']}"
            env["MERCATO_EVENT_PREFIX"] = EVENT_PREFIX
        if self.spec.buckets:
            env["MERCATO_S3_ENDPOINT"] = f"http://minio:{ENGINE_PORTS['s3']}"
            env["MERCATO_S3_REGION"] = S3_REGION
            env["MERCATO_S3_BUCKET_PREFIX"] = BUCKET_PREFIX
        if self.spec.smtp:
            env["MERCATO_SMTP_HOST"] = "smtp"
            env["MERCATO_SMTP_PORT"] = str(ENGINE_PORTS["smtp"])
        if self.spec.probes_all:
            env["MERCATO_ENGINE_PROBES"] = json.dumps(PROBED_ENGINES, sort_keys=True)
        return env

    def expected_env(self, *, web_identity: bool = False) -> set[str]:
        """Every variable a running container of this service must receive."""
        secrets = self.secret_env_for(web_identity=web_identity)
        names = set(self.config_env()) | set(secrets) | {"MERCATO_ENV"}
        names |= set(self.smtp_secret_env)
        if self.spec.database:
            names.add("MERCATO_DATABASE_URL")
        if self.spec.buckets:
            names.add("MERCATO_S3_PUBLIC_ENDPOINT")
        return names


def services() -> list[Deployable]:
    """Every catalog service, in catalog order."""
    return [Deployable(spec) for spec in catalog.SERVICES.values()]


def required_secrets(name: str, *, web_identity: bool = False) -> list[str]:
    """The service's own answer to which secrets it needs (``ServiceSettings.required_secrets``).

    The settings class is loaded by the catalog's import path, the way the server loads
    it, and built without reading the environment so the answer never depends on it;
    ``web_identity`` asks it as a pod with an IRSA role would (ADR 0024).
    """
    module, _, attribute = catalog.get(name).settings_class.partition(":")
    try:
        settings_class: type[ServiceSettings] = getattr(importlib.import_module(module), attribute)
    except ModuleNotFoundError as exc:
        if exc.name is None or not (module + ".").startswith(exc.name + "."):
            raise
        settings_class = ServiceSettings  # declared in the catalog, package not written yet
    irsa = {"aws_role_arn": "irsa", "aws_web_identity_token_file": "irsa"} if web_identity else {}
    return settings_class.model_construct(service=name, **irsa).required_secrets()


def with_engine(engine: str) -> list[Deployable]:
    """Services that need ``engine`` (postgres, nats, s3, smtp)."""
    return [s for s in services() if engine in s.spec.engines]
