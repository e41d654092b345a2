"""``deploy/compose``: the whole platform on one Docker host, derived from the catalog."""

from __future__ import annotations

import json
from typing import Any

from mercato import catalog
from mercato.deploy import model, tracing
from mercato.deploy.model import Deployable

Obj = dict[str, Any]
ROOT = "deploy/compose"
POSTGRES_USER = "mercato"
MAILPIT_IMAGE = "axllent/mailpit:v1.21.8"
MAILPIT_SMTP_PORT = 1025
PROMETHEUS_IMAGE = "prom/prometheus:v3.1.0"
GRAFANA_IMAGE = "grafana/grafana:11.4.0"
MINIO_SERVER_IMAGE = model.MINIO_IMAGE
IMAGE_TAG = "${MERCATO_TAG:-local}"

# Variables the user sets in .env (from .env.example); nothing secret is written here.
SECRETS = {
    "POSTGRES_PASSWORD": "PostgreSQL password of the mercato user (URL-safe: openssl rand -hex 24)",
    "MINIO_ROOT_USER": "MinIO root user, also the services' S3 access key",
    "MINIO_ROOT_PASSWORD": "MinIO root password, also the services' S3 secret key (16+ chars)",
    "MERCATO_AUTH_SECRET_KEY": "auth's master secret: encrypts signing keys (openssl rand -hex 32)",
    "GRAFANA_ADMIN_PASSWORD": "Grafana's admin password",
}


def required(variable: str) -> str:
    """A reference compose refuses to start without."""
    return f"${{{variable}:?set {variable} in .env (see .env.example)}}"


def client_secret_variable(service: Deployable) -> str:
    """The .env variable holding a service's own client secret."""
    return f"MERCATO_{service.name.upper()}_CLIENT_SECRET"


def hardened() -> Obj:
    """Read-only, unprivileged container settings shared by every Mercato container."""
    return {
        "user": f"{model.RUN_AS_USER}:{model.RUN_AS_USER}",
        "read_only": True,
        "tmpfs": ["/tmp"],  # noqa: S108 (the one writable path)
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges:true"],
    }


def environment(service: Deployable) -> dict[str, str]:
    """The container environment of a service (or its migration)."""
    env = service.config_env()
    env["MERCATO_ENV"] = "${MERCATO_ENV:-prod}"
    env["MERCATO_LOG_LEVEL"] = "${MERCATO_LOG_LEVEL:-info}"
    if service.spec.database:
        env["MERCATO_DATABASE_URL"] = (
            f"postgresql://{POSTGRES_USER}:{required('POSTGRES_PASSWORD')}"
            f"@postgres:5432/{service.spec.database}"
        )
    if service.spec.buckets:
        env["MERCATO_S3_PUBLIC_ENDPOINT"] = "${MERCATO_S3_PUBLIC_ENDPOINT:-http://localhost:9000}"
    if service.spec.smtp:
        env["MERCATO_SMTP_PORT"] = str(MAILPIT_SMTP_PORT)
        # Mailpit takes mail without a login; set them in .env to send through a real relay.
        for name in service.smtp_secret_env:
            env[name] = f"${{{name}:-}}"
    if service.spec.probes_all:
        # Compose runs one PostgreSQL for every database: the prober checks it too.
        probes = {
            **model.PROBED_ENGINES,
            "postgres": f"postgresql://postgres:{model.ENGINE_PORTS['postgres']}",
        }
        env["MERCATO_ENGINE_PROBES"] = json.dumps(probes, sort_keys=True)
    values = {
        "MERCATO_SECRET_KEY": required("MERCATO_AUTH_SECRET_KEY"),
        "MERCATO_S3_ACCESS_KEY": required("MINIO_ROOT_USER"),
        "MERCATO_S3_SECRET_KEY": required("MINIO_ROOT_PASSWORD"),
        "MERCATO_CLIENT_SECRET": required(client_secret_variable(service)),
    }
    for name in service.secret_env:
        env[name] = values.get(name, required(f"MERCATO_{service.name.upper()}_{name[8:]}"))
    env.update(tracing.SERVICE_ENV)
    env.update(tracing.sampler_env(1.0))  # one host, little traffic: every trace
    return env


def build(service: Deployable) -> Obj:
    """How compose builds the service's image from the one Dockerfile."""
    return {
        "context": "../..",
        "dockerfile": "deploy/docker/Dockerfile",
        "args": {"SERVICE": service.name},
    }


def healthcheck(command: list[str], start: str = "10s") -> Obj:
    """A healthcheck with common timing."""
    return {
        "test": command,
        "interval": "10s",
        "timeout": "3s",
        "retries": 6,
        "start_period": start,
    }


def service_healthcheck() -> Obj:
    """Readiness of a Mercato service, asked with the image's own Python."""
    probe = (
        "import urllib.request; "
        f"urllib.request.urlopen('http://127.0.0.1:{model.CONTAINER_PORT}/ready', timeout=3)"
    )
    return healthcheck(["CMD", "python", "-c", probe], start="20s")


def mercato_service(service: Deployable) -> Obj:
    """A catalog service: after its migration, its engines and the services it calls."""
    depends: Obj = {}
    for engine in service.spec.engines:
        if engine == "postgres":
            depends[f"{service.name}-migrate"] = {"condition": "service_completed_successfully"}
        elif engine == "nats":
            depends["nats"] = {"condition": "service_healthy"}
        elif engine == "s3":
            depends["minio-buckets"] = {"condition": "service_completed_successfully"}
        elif engine == "smtp":
            depends["smtp"] = {"condition": "service_healthy"}
    # A prober waits for nobody: it reports who is not up yet (and the gateway, which
    # reaches it, would otherwise wait for it while it waited for the gateway).
    if not service.spec.probes_all:
        for callee in catalog.sync_dependencies(service.name):
            depends[callee] = {"condition": "service_healthy"}
    definition: Obj = {
        "image": f"{service.image}:{IMAGE_TAG}",
        "build": build(service),
        "restart": "unless-stopped",
        **hardened(),
        "environment": environment(service),
        "healthcheck": service_healthcheck(),
        "stop_grace_period": f"{model.GRACEFUL_TIMEOUT_SECONDS + 5}s",
    }
    if depends:
        definition["depends_on"] = depends
    if service.name == "gateway":
        definition["ports"] = [f"{model.CONTAINER_PORT}:{model.CONTAINER_PORT}"]
    return definition


def migration(service: Deployable) -> Obj:
    """The one-shot migration of a service's database."""
    env = {
        k: v
        for k, v in environment(service).items()
        if k in {"MERCATO_SERVICE", "MERCATO_ENV", "MERCATO_DATABASE_URL", "MERCATO_LOG_LEVEL"}
    }
    return {
        "image": f"{service.image}:{IMAGE_TAG}",
        "build": build(service),
        "restart": "no",
        **hardened(),
        "command": ["python", "-m", "mercato.platform.migrations", service.name],
        "environment": env,
        "depends_on": {"postgres": {"condition": "service_healthy"}},
    }


def engines() -> Obj:
    """PostgreSQL, MinIO (+ buckets), NATS, the SMTP sink, Prometheus and Grafana."""
    buckets = sorted({b for s in model.services() for b in s.buckets})
    bucket_script = " && ".join(
        [
            'mc alias set mercato http://minio:9000 "$$MINIO_ROOT_USER" "$$MINIO_ROOT_PASSWORD"',
            *(f"mc mb --ignore-existing mercato/{b}" for b in buckets),
        ]
    )
    return {
        "postgres": {
            "image": model.PSQL_IMAGE,
            "restart": "unless-stopped",
            "environment": {
                "POSTGRES_USER": POSTGRES_USER,
                "POSTGRES_PASSWORD": required("POSTGRES_PASSWORD"),
                "POSTGRES_DB": "postgres",
            },
            "volumes": [
                "postgres-data:/var/lib/postgresql/data",
                "./postgres-init:/docker-entrypoint-initdb.d:ro",
            ],
            "healthcheck": healthcheck(
                ["CMD", "pg_isready", "-U", POSTGRES_USER, "-d", "postgres"]
            ),
        },
        "minio": {
            "image": MINIO_SERVER_IMAGE,
            "restart": "unless-stopped",
            "command": ["server", "/data", "--console-address", f":{model.MINIO_CONSOLE_PORT}"],
            "environment": {
                "MINIO_ROOT_USER": required("MINIO_ROOT_USER"),
                "MINIO_ROOT_PASSWORD": required("MINIO_ROOT_PASSWORD"),
            },
            "ports": ["9000:9000", f"{model.MINIO_CONSOLE_PORT}:{model.MINIO_CONSOLE_PORT}"],
            "volumes": ["minio-data:/data"],
            "healthcheck": healthcheck(["CMD", "mc", "ready", "local"]),
        },
        "minio-buckets": {
            "image": model.MC_IMAGE,
            "restart": "no",
            "entrypoint": ["/bin/sh", "-c", bucket_script],
            "environment": {
                "MINIO_ROOT_USER": required("MINIO_ROOT_USER"),
                "MINIO_ROOT_PASSWORD": required("MINIO_ROOT_PASSWORD"),
            },
            "depends_on": {"minio": {"condition": "service_healthy"}},
        },
        "nats": {
            "image": model.NATS_IMAGE,
            "restart": "unless-stopped",
            "command": ["--jetstream", "--store_dir", "/data", "--http_port", "8222"],
            "volumes": ["nats-data:/data"],
            "healthcheck": healthcheck(
                [
                    "CMD",
                    "wget",
                    "-q",
                    "--spider",
                    "http://127.0.0.1:8222/healthz?js-enabled-only=true",
                ]
            ),
        },
        "smtp": {
            "image": MAILPIT_IMAGE,
            "restart": "unless-stopped",
            "ports": ["8025:8025"],
            "environment": {"MP_SMTP_BIND_ADDR": f"0.0.0.0:{MAILPIT_SMTP_PORT}"},
            "healthcheck": healthcheck(["CMD", "/mailpit", "readyz"]),
        },
        "prometheus": {
            "image": PROMETHEUS_IMAGE,
            "restart": "unless-stopped",
            "command": [
                "--config.file=/etc/prometheus/prometheus.yml",
                "--storage.tsdb.path=/prometheus",
                "--storage.tsdb.retention.time=15d",
            ],
            "ports": ["9090:9090"],
            "volumes": [
                "./prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro",
                {
                    "type": "bind",
                    "source": "../monitoring/prometheus",
                    "target": "/etc/prometheus/rules",
                    "read_only": True,
                    "bind": {"create_host_path": True},
                },
                "prometheus-data:/prometheus",
            ],
            "healthcheck": healthcheck(
                ["CMD", "wget", "-q", "--spider", "http://127.0.0.1:9090/-/ready"]
            ),
        },
        "grafana": {
            "image": GRAFANA_IMAGE,
            "restart": "unless-stopped",
            "environment": {
                "GF_SECURITY_ADMIN_USER": "admin",
                "GF_SECURITY_ADMIN_PASSWORD": required("GRAFANA_ADMIN_PASSWORD"),
                "GF_USERS_ALLOW_SIGN_UP": "false",
            },
            "ports": ["3000:3000"],
            "volumes": [
                "./grafana/provisioning:/etc/grafana/provisioning:ro",
                {
                    "type": "bind",
                    "source": "../monitoring/grafana",
                    "target": "/var/lib/grafana/dashboards",
                    "read_only": True,
                    "bind": {"create_host_path": True},
                },
                "grafana-data:/var/lib/grafana",
            ],
            "depends_on": {"prometheus": {"condition": "service_healthy"}},
            "healthcheck": healthcheck(
                ["CMD", "wget", "-q", "--spider", "http://127.0.0.1:3000/api/health"]
            ),
        },
    }


def compose_file() -> Obj:
    """compose.yaml."""
    services: Obj = engines()
    services.update(tracing.compose_services(healthcheck))
    for service in model.services():
        if service.spec.database:
            services[f"{service.name}-migrate"] = migration(service)
        services[service.name] = mercato_service(service)
    return {
        "name": "mercato",
        "services": services,
        "volumes": {
            v: {}
            for v in (
                "postgres-data",
                "minio-data",
                "nats-data",
                "prometheus-data",
                "grafana-data",
                "tempo-data",
            )
        },
    }


def init_sql() -> str:
    """Creates one database per service on PostgreSQL's first start."""
    lines = ["-- Generated by `mercato render compose` from the catalog; do not edit by hand."]
    for service in model.with_engine("postgres"):
        lines.append(f'CREATE DATABASE "{service.spec.database}" OWNER "{POSTGRES_USER}";')
    return "\n".join(lines) + "\n"


def prometheus_config() -> Obj:
    """Prometheus scraping every catalog service; rules from deploy/monitoring if present."""
    return {
        "global": {"scrape_interval": "15s", "evaluation_interval": "15s"},
        "rule_files": ["/etc/prometheus/rules/*.yml", "/etc/prometheus/rules/*.yaml"],
        "scrape_configs": [
            {
                "job_name": service.name,
                "metrics_path": "/metrics",
                # Series carry service= from the chassis; the target's fills in process_*
                # (docs/observability.md).
                "honor_labels": True,
                "static_configs": [
                    {
                        "targets": [f"{service.name}:{model.CONTAINER_PORT}"],
                        "labels": {"service": service.name},
                    }
                ],
            }
            for service in model.services()
        ],
    }


def grafana_provisioning() -> dict[str, Obj]:
    """The Prometheus datasource and a dashboards provider reading deploy/monitoring/grafana."""
    return {
        f"{ROOT}/grafana/provisioning/datasources/prometheus.yaml": {
            "apiVersion": 1,
            "datasources": [
                {
                    "name": "Prometheus",
                    "uid": "prometheus",
                    "type": "prometheus",
                    "access": "proxy",
                    "url": "http://prometheus:9090",
                    "isDefault": True,
                }
            ],
        },
        f"{ROOT}/grafana/provisioning/dashboards/mercato.yaml": {
            "apiVersion": 1,
            "providers": [
                {
                    "name": "mercato",
                    "folder": "Mercato",
                    "type": "file",
                    "options": {
                        "path": "/var/lib/grafana/dashboards",
                        "foldersFromFilesStructure": False,
                    },
                }
            ],
        },
    }


def env_example() -> str:
    """.env.example: every variable compose needs, none filled in."""
    lines = [
        "# Copy to .env (next to compose.yaml), fill in every value, keep it out of git.",
        "# Generated by `mercato render compose` from the catalog; do not edit by hand.",
        "MERCATO_TAG=local",
        "MERCATO_ENV=prod",
        "",
    ]
    for name, description in SECRETS.items():
        lines += [f"# {description}", f"{name}="]
    for service in model.services():
        if "MERCATO_CLIENT_SECRET" in service.secret_env:
            lines += [
                f"# {service.name}'s own client secret, derived from the auth secret key:",
                f"#   mercato render client-secret {service.name} (reads MERCATO_AUTH_SECRET_KEY)",
                f"{client_secret_variable(service)}=",
            ]
    for name in sorted({n for s in model.services() for n in s.smtp_secret_env}, reverse=True):
        lines += [
            f"# {name[8:]} of a real SMTP relay; leave empty for the Mailpit here",
            f"{name}=",
        ]
    return "\n".join(lines) + "\n"


def render() -> dict[str, Any]:
    """Every file under deploy/compose."""
    return {
        f"{ROOT}/compose.yaml": compose_file(),
        f"{ROOT}/postgres-init/10-databases.sql": init_sql(),
        f"{ROOT}/prometheus/prometheus.yml": prometheus_config(),
        f"{ROOT}/.env.example": env_example(),
        **grafana_provisioning(),
        **tracing.compose_files(ROOT),
    }
