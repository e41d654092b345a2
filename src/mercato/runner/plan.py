"""What one run of the platform consists of: services, ports, engines, environments.

Everything here is pure (no processes, no sockets), derived from the catalog, so the
runner's decisions can be tested without starting anything.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from mercato import catalog

GATEWAY = "gateway"
AUTH = "auth"
LOG = "log"
EVENT_PREFIX = "mercato"
HOST = "127.0.0.1"
SMTP_PORT = 25  # of an external relay named by MERCATO_SMTP_HOST alone

# A crashed service waits 0.5 s, then 1 s, 2 s, ... up to 30 s before its next start;
# once it has stayed up for STABLE_AFTER_SECONDS, the next crash starts from 0.5 s again.
BACKOFF_INITIAL_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 30.0
STABLE_AFTER_SECONDS = 60.0


@dataclass(frozen=True)
class Endpoints:
    """Where the engines of a run are reached, embedded or external."""

    database_url: str | None = None  # a server URL; each service gets its own database
    nats_url: str | None = None
    s3_endpoint: str | None = None
    s3_access_key: str | None = None
    s3_secret_key: str | None = None
    smtp_host: str | None = None
    smtp_port: int | None = None

    def address(self, engine: str) -> str | None:
        """Where ``engine`` is reached, if it has an address."""
        smtp = f"smtp://{self.smtp_host}:{self.smtp_port}" if self.smtp_host else None
        return {
            "postgres": self.database_url,
            "nats": self.nats_url,
            "s3": self.s3_endpoint,
            "smtp": smtp,
        }.get(engine)

    def provides(self, engine: str) -> bool:
        """True when ``engine`` has an address."""
        return self.address(engine) is not None


class PlanError(ValueError):
    """The requested run cannot be made (an unknown service, missing S3 keys...)."""


def external_endpoints(environ: Mapping[str, str]) -> Endpoints:
    """Engines the user runs elsewhere, named by ``MERCATO_*`` variables."""
    s3 = environ.get("MERCATO_S3_ENDPOINT") or None
    access, secret = environ.get("MERCATO_S3_ACCESS_KEY"), environ.get("MERCATO_S3_SECRET_KEY")
    if s3 and not (access and secret):
        raise PlanError(
            "MERCATO_S3_ENDPOINT is set: set MERCATO_S3_ACCESS_KEY and MERCATO_S3_SECRET_KEY too"
        )
    smtp_host = environ.get("MERCATO_SMTP_HOST") or None
    smtp_port = environ.get("MERCATO_SMTP_PORT") or str(SMTP_PORT)
    if smtp_host and not smtp_port.isdigit():
        raise PlanError(f"MERCATO_SMTP_PORT must be a port number, not {smtp_port!r}")
    return Endpoints(
        database_url=environ.get("MERCATO_DATABASE_URL") or None,
        nats_url=environ.get("MERCATO_NATS_URL") or None,
        s3_endpoint=s3,
        s3_access_key=access if s3 else None,
        s3_secret_key=secret if s3 else None,
        smtp_host=smtp_host,
        smtp_port=int(smtp_port) if smtp_host else None,
    )


def select_services(requested: list[str] | None) -> list[str]:
    """The services to run: all of them, or the requested ones and what they need."""
    if not requested:
        return catalog.names()
    try:
        return catalog.with_dependencies(requested)
    except KeyError as exc:
        raise PlanError(str(exc.args[0])) from None


def parse_service_list(value: str | None) -> list[str] | None:
    """``"gateway, auth"`` as a list; None or empty means every service."""
    if not value:
        return None
    names = [part.strip() for part in value.split(",") if part.strip()]
    return names or None


def start_order(services: list[str]) -> list[str]:
    """auth first (the others fetch its JWKS), the gateway last, the rest in catalog order."""
    first = [s for s in services if s == AUTH]
    last = [s for s in services if s == GATEWAY]
    return first + [s for s in services if s not in (AUTH, GATEWAY)] + last


def engines_needed(services: list[str]) -> list[str]:
    """Every engine the services need, in start order, without repeats."""
    return list(dict.fromkeys(e for s in services for e in catalog.get(s).engines))


def service_ports(*, offset: int = 0, gateway_port: int = catalog.CONTAINER_PORT) -> dict[str, int]:
    """The port of every catalog service: its catalog port, the gateway's ``gateway_port``."""
    return {
        name: (gateway_port if name == GATEWAY else catalog.get(name).port) + offset
        for name in catalog.names()
    }


def service_urls(ports: Mapping[str, int]) -> dict[str, str]:
    """The base URL of every service, given its port."""
    return {name: f"http://{HOST}:{port}" for name, port in ports.items()}


def service_env(
    name: str,
    *,
    ports: Mapping[str, int],
    endpoints: Endpoints,
    secrets: Mapping[str, str],
    log_level: str = "info",
    running: Collection[str] | None = None,
) -> dict[str, str]:
    """The ``MERCATO_*`` variables service ``name`` is started with.

    ``running`` names the services the runner starts (all of ``ports`` if not given): the
    others ship their logs to the log service only when it is one of them.
    """
    # Imported here: they pull in SQLAlchemy and FastAPI, seconds on a busy machine,
    # which the runner spends while its engines start rather than before.
    from mercato.platform.db import with_database
    from mercato.platform.security import derive_client_secret

    spec = catalog.get(name)
    env = {
        "MERCATO_SERVICE": name,
        "MERCATO_ENV": "dev",
        "MERCATO_HOST": HOST,
        "MERCATO_PORT": str(ports[name]),
        "MERCATO_SERVICE_URLS": json.dumps(service_urls(ports), sort_keys=True),
        "MERCATO_LOG_LEVEL": log_level,
        "MERCATO_CLIENT_SECRET": derive_client_secret(secrets["auth_secret_key"], name),
    }
    if spec.database and endpoints.database_url:
        env["MERCATO_DATABASE_URL"] = with_database(endpoints.database_url, spec.database)
    if spec.uses_nats and endpoints.nats_url:
        env["MERCATO_NATS_URL"] = endpoints.nats_url
        env["MERCATO_EVENT_PREFIX"] = EVENT_PREFIX
    if spec.buckets and endpoints.s3_endpoint:
        env["MERCATO_S3_ENDPOINT"] = endpoints.s3_endpoint
        env["MERCATO_S3_PUBLIC_ENDPOINT"] = endpoints.s3_endpoint
        env["MERCATO_S3_ACCESS_KEY"] = endpoints.s3_access_key or ""
        env["MERCATO_S3_SECRET_KEY"] = endpoints.s3_secret_key or ""
    if spec.smtp and endpoints.smtp_host and endpoints.smtp_port:
        env["MERCATO_SMTP_HOST"] = endpoints.smtp_host
        env["MERCATO_SMTP_PORT"] = str(endpoints.smtp_port)
    if LOG in (ports if running is None else running) and name != LOG:
        # The log service's OTLP/HTTP logs route: every other service ships its records there.
        env["MERCATO_LOG_SHIPPING_URL"] = f"http://{HOST}:{ports[LOG]}/v1/logs"
    if name == AUTH:
        env["MERCATO_SECRET_KEY"] = secrets["auth_secret_key"]
    if spec.probes_all:
        env["MERCATO_ENGINE_PROBES"] = json.dumps(engine_probes(endpoints), sort_keys=True)
    return env


def engine_probes(endpoints: Endpoints) -> dict[str, str]:
    """Where a prober finds each engine of the run: addresses only, never credentials."""
    from sqlalchemy.engine import make_url

    probes = {}
    if endpoints.database_url:
        server = make_url(endpoints.database_url)
        probes["postgres"] = f"postgresql://{server.host}:{server.port or 5432}"
    if endpoints.nats_url:
        first = urlsplit(endpoints.nats_url.split(",")[0].strip())
        probes["nats"] = f"nats://{first.hostname}:{first.port or 4222}"
    if endpoints.s3_endpoint:
        probes["s3"] = endpoints.s3_endpoint
    smtp = endpoints.address("smtp")
    if smtp:
        probes["smtp"] = smtp
    return probes


def backoff_delay(failures: int) -> float:
    """Seconds to wait before starting a service again after ``failures`` crashes in a row."""
    if failures < 1:
        return 0.0
    doublings = min(failures - 1, 32)  # bounded: a service may crash for days
    return min(BACKOFF_INITIAL_SECONDS * 2.0**doublings, BACKOFF_MAX_SECONDS)


def mask_password(url: str) -> str:
    """``url`` with its password, if any, replaced by ``***`` (for tables and state files)."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    credentials, _, host = rest.rpartition("@")
    user, colon, _ = credentials.partition(":")
    return f"{scheme}://{user}{':***' if colon else ''}@{host}"
