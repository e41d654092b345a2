"""deploy/compose, checked statically (no Docker engine here): it matches the catalog."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml

from mercato import catalog
from mercato.deploy import model, tracing
from tests.deploy.conftest import REPO

COMPOSE = REPO / "deploy" / "compose"
ENGINES = {
    "postgres",
    "minio",
    "minio-buckets",
    "nats",
    "smtp",
    "prometheus",
    "grafana",
    "otel-collector",
    "tempo",
}
VARIABLE = re.compile(r"\$\{([A-Z0-9_]+)(?::?[-?][^}]*)?\}")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    """compose.yaml, parsed."""
    return yaml.safe_load((COMPOSE / "compose.yaml").read_text())


def test_every_catalog_service_runs_after_its_migration(compose: dict[str, Any]) -> None:
    services = compose["services"]
    migrations = {f"{s.name}-migrate" for s in model.with_engine("postgres")}
    assert set(services) == ENGINES | set(catalog.SERVICES) | migrations
    for service in model.services():
        definition = services[service.name]
        assert definition["image"].startswith(f"mercato/{service.name}:")
        assert definition["build"]["args"] == {"SERVICE": service.name}
        assert definition["build"]["dockerfile"] == "deploy/docker/Dockerfile"
        assert "/ready" in definition["healthcheck"]["test"][-1]
        depends = definition.get("depends_on", {})
        if service.spec.database:
            assert depends[f"{service.name}-migrate"] == {
                "condition": "service_completed_successfully"
            }
            migration = services[f"{service.name}-migrate"]
            assert migration["command"] == [
                "python",
                "-m",
                "mercato.platform.migrations",
                service.name,
            ]
            assert migration["depends_on"] == {"postgres": {"condition": "service_healthy"}}
        if service.spec.probes_all:
            # A prober waits for nobody: it reports who is not up yet.
            assert not set(depends) & set(catalog.SERVICES)
        else:
            for callee in catalog.sync_dependencies(service.name):
                assert depends[callee] == {"condition": "service_healthy"}
        if "nats" in service.spec.engines:
            assert depends["nats"] == {"condition": "service_healthy"}
        if "s3" in service.spec.engines:
            assert depends["minio-buckets"] == {"condition": "service_completed_successfully"}
        assert definition["read_only"] is True
        assert definition["cap_drop"] == ["ALL"]


def test_no_service_waits_in_a_cycle(compose: dict[str, Any]) -> None:
    waits = {
        name: set(definition.get("depends_on", {}))
        for name, definition in compose["services"].items()
    }
    done: set[str] = set()
    while len(done) < len(waits):
        ready = {n for n, needs in waits.items() if n not in done and needs <= done}
        assert ready, f"these wait for each other: {sorted(set(waits) - done)}"
        done |= ready


def test_only_the_gateway_is_published_on_8080(compose: dict[str, Any]) -> None:
    published = {
        name: definition["ports"]
        for name, definition in compose["services"].items()
        if name in catalog.SERVICES and "ports" in definition
    }
    assert published == {"gateway": ["8080:8080"]}
    assert "9001:9001" in compose["services"]["minio"]["ports"]


def test_every_container_gets_the_catalog_environment(compose: dict[str, Any]) -> None:
    for service in model.services():
        env = compose["services"][service.name]["environment"]
        assert set(env) == service.expected_env() | {
            "MERCATO_LOG_LEVEL",
            *tracing.SERVICE_ENV,
            *tracing.sampler_env(1.0),
        }
        for key, value in service.config_env().items():
            if key not in {"MERCATO_SMTP_PORT", "MERCATO_ENGINE_PROBES"}:
                assert env[key] == value
        if service.spec.database:
            assert env["MERCATO_DATABASE_URL"].endswith(f"@postgres:5432/{service.spec.database}")
        if service.spec.probes_all:
            # Compose's one PostgreSQL is probed too, besides what every deployment probes.
            assert json.loads(env["MERCATO_ENGINE_PROBES"]) == {
                **model.PROBED_ENGINES,
                "postgres": "postgresql://postgres:5432",
            }


def test_every_engine_has_a_healthcheck_and_pinned_image(compose: dict[str, Any]) -> None:
    for name, definition in compose["services"].items():
        image = definition["image"]
        assert ":" in image, name
        assert not image.endswith(":latest"), name
        if definition.get("restart") != "no":
            assert "healthcheck" in definition, name


def test_no_secret_is_written_down(compose: dict[str, Any]) -> None:
    text = (COMPOSE / "compose.yaml").read_text()
    for name, definition in compose["services"].items():
        for key, value in (definition.get("environment") or {}).items():
            if any(word in key for word in ("PASSWORD", "SECRET", "DATABASE_URL", "ACCESS_KEY")):
                assert "${" in str(value), f"{name}.{key} is a literal"
    example = (COMPOSE / ".env.example").read_text()
    declared = {
        line.split("=", 1)[0]
        for line in example.splitlines()
        if "=" in line and not line.startswith("#")
    }
    used = set(VARIABLE.findall(text))
    assert used <= declared | {"MERCATO_S3_PUBLIC_ENDPOINT", "MERCATO_LOG_LEVEL"}
    for line in example.splitlines():
        if "=" in line and not line.startswith("#"):
            name, value = line.split("=", 1)
            if name not in ("MERCATO_TAG", "MERCATO_ENV"):
                assert value == "", f".env.example fills in {name}"


def test_postgres_creates_one_database_per_service() -> None:
    sql = (COMPOSE / "postgres-init" / "10-databases.sql").read_text()
    created = set(re.findall(r'CREATE DATABASE "([a-z_]+)"', sql))
    assert created == {s.spec.database for s in model.with_engine("postgres")}


def test_buckets_are_created_at_start(compose: dict[str, Any]) -> None:
    script = compose["services"]["minio-buckets"]["entrypoint"][-1]
    for service in model.services():
        for bucket in service.buckets:
            assert f"mercato/{bucket}" in script


def test_prometheus_scrapes_every_service_and_grafana_has_its_datasource() -> None:
    config = yaml.safe_load((COMPOSE / "prometheus" / "prometheus.yml").read_text())
    targets = {
        t for job in config["scrape_configs"] for c in job["static_configs"] for t in c["targets"]
    }
    assert targets == {f"{name}:8080" for name in catalog.SERVICES}
    datasource = yaml.safe_load(
        (COMPOSE / "grafana" / "provisioning" / "datasources" / "prometheus.yaml").read_text()
    )
    assert datasource["datasources"][0]["url"] == "http://prometheus:9090"
