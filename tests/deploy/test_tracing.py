"""Tracing as deployed: every service exports to the collector, the collector to Tempo only."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from mercato import catalog
from mercato.deploy import tracing
from tests.deploy.conftest import ENVIRONMENTS, REPO

Obj = dict[str, Any]
COMPONENT = REPO / "deploy" / "k8s" / "components" / "tracing"


def named(objects: list[Obj], kind: str) -> dict[str, Obj]:
    """Objects of one kind by name."""
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def admitted(policy: Obj, direction: str, port: int) -> list[Obj]:
    """The peers a policy admits on ``port`` in one direction."""
    key = "from" if direction == "ingress" else "to"
    return [
        peer
        for rule in policy["spec"].get(direction, [])
        if port in {p["port"] for p in rule.get("ports", [])}
        for peer in rule.get(key, [])
    ]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_service_gets_the_collector_as_its_otlp_endpoint(
    env: str, overlays: dict[str, list[Obj]]
) -> None:
    objects = overlays[env]
    config = named(objects, "ConfigMap")
    deployments = named(objects, "Deployment")
    for name in catalog.SERVICES:
        sources = deployments[name]["spec"]["template"]["spec"]["containers"][0]["envFrom"]
        refs = [s["configMapRef"]["name"] for s in sources if "configMapRef" in s]
        [tracing_config] = [r for r in refs if r.startswith("mercato-tracing")]
        assert config[tracing_config]["data"] == tracing.SERVICE_ENV
    assert tracing.SERVICE_ENV["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector:4318"
    service = named(objects, "Service")["otel-collector"]
    assert {p["port"] for p in service["spec"]["ports"]} == {tracing.OTLP_HTTP_PORT}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_each_environment_samples_its_own_share_of_traces_at_the_edge(
    env: str, overlays: dict[str, list[Obj]]
) -> None:
    config = named(overlays[env], "ConfigMap")
    deployments = named(overlays[env], "Deployment")
    expected = {
        "dev": {"OTEL_TRACES_SAMPLER": "parentbased_always_on"},
        "stg": {"OTEL_TRACES_SAMPLER": "parentbased_always_on"},
        "prod": {
            "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
            "OTEL_TRACES_SAMPLER_ARG": "0.1",
        },
    }[env]
    for name in catalog.SERVICES:
        sources = deployments[name]["spec"]["template"]["spec"]["containers"][0]["envFrom"]
        refs = [s["configMapRef"]["name"] for s in sources if "configMapRef" in s]
        # One ConfigMap says how to sample, so the order of envFrom cannot change it.
        samplers = [
            {k: v for k, v in config[ref]["data"].items() if k.startswith("OTEL_TRACES_SAMPLER")}
            for ref in refs
        ]
        assert [s for s in samplers if s] == [expected], name


def test_a_sampling_ratio_outside_zero_to_one_is_refused() -> None:
    assert tracing.sampler_env(0.0)["OTEL_TRACES_SAMPLER_ARG"] == "0"
    with pytest.raises(ValueError, match="between 0 and 1"):
        tracing.sampler_env(1.5)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_spans_flow_services_to_collector_to_tempo_and_nowhere_else(
    env: str, overlays: dict[str, list[Obj]]
) -> None:
    policies = named(overlays[env], "NetworkPolicy")
    services = {"podSelector": {"matchLabels": {"app.kubernetes.io/component": "service"}}}
    exporting = policies["services-to-otel-collector"]
    assert exporting["spec"]["podSelector"] == services["podSelector"]
    assert admitted(exporting, "egress", tracing.OTLP_HTTP_PORT) == [
        {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "otel-collector"}}}
    ]
    collector = policies["otel-collector"]
    assert admitted(collector, "ingress", tracing.OTLP_HTTP_PORT) == [services]
    assert admitted(collector, "egress", tracing.OTLP_GRPC_PORT) == [
        {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "tempo"}}}
    ]
    # Besides Tempo, the collector reaches only the log service, with the services' logs.
    assert len(collector["spec"]["egress"]) == 2
    assert admitted(collector, "egress", 8080) == [
        {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "log"}}}
    ]
    tempo = policies["tempo"]
    assert admitted(tempo, "ingress", tracing.OTLP_GRPC_PORT) == [
        {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "otel-collector"}}}
    ]
    assert tempo["spec"]["egress"] == []


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_log_records_flow_services_to_collector_to_the_log_service(
    env: str, overlays: dict[str, list[Obj]]
) -> None:
    policies = named(overlays[env], "NetworkPolicy")
    into_log = policies["otel-collector-to-log"]
    assert into_log["spec"]["podSelector"] == {"matchLabels": {"app.kubernetes.io/name": "log"}}
    assert admitted(into_log, "ingress", 8080) == [
        {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "otel-collector"}}}
    ]
    config = tracing.collector_config(kubernetes=True)
    assert config["service"]["pipelines"]["logs"]["exporters"] == ["otlphttp/log"]
    assert config["exporters"]["otlphttp/log"]["endpoint"] == "http://log:8080"
    assert tracing.SERVICE_ENV["MERCATO_LOG_SHIPPING_URL"] == "http://otel-collector:4318/v1/logs"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_grafana_gets_a_tempo_datasource_for_the_environment(
    env: str, overlays: dict[str, list[Obj]]
) -> None:
    config_map = named(overlays[env], "ConfigMap")["mercato-tempo-datasource"]
    assert config_map["metadata"]["labels"]["grafana_datasource"] == "1"
    [datasource] = yaml.safe_load(config_map["data"]["tempo.yaml"])["datasources"]
    assert datasource["type"] == "tempo"
    assert datasource["uid"] == f"tempo-{env}"
    assert datasource["url"] == f"http://tempo.mercato-{env}.svc:3200"


def test_the_collector_sends_every_trace_to_tempo() -> None:
    config = yaml.safe_load((COMPONENT / "collector.yaml").read_text())
    pipeline = config["service"]["pipelines"]["traces"]
    assert pipeline["receivers"] == ["otlp"]
    assert pipeline["processors"][0] == "memory_limiter"
    assert pipeline["processors"][-1] == "batch"
    assert set(pipeline["processors"]) <= set(config["processors"])
    [exporter] = pipeline["exporters"]
    assert config["exporters"][exporter]["endpoint"] == f"tempo:{tracing.OTLP_GRPC_PORT}"
    assert config["receivers"]["otlp"]["protocols"]["http"]["endpoint"].endswith(":4318")
    tempo = yaml.safe_load((COMPONENT / "tempo.yaml").read_text())
    receiver = tempo["distributor"]["receivers"]["otlp"]["protocols"]["grpc"]
    assert receiver["endpoint"].endswith(f":{tracing.OTLP_GRPC_PORT}")
    assert tempo["storage"]["trace"]["local"]["path"].startswith(tracing.TEMPO_DATA)


def test_compose_runs_the_collector_and_tempo_and_points_services_at_it() -> None:
    compose = yaml.safe_load((REPO / "deploy" / "compose" / "compose.yaml").read_text())
    services = compose["services"]
    assert services["otel-collector"]["image"] == tracing.COLLECTOR_IMAGE
    assert services["tempo"]["image"] == tracing.TEMPO_IMAGE
    for name in catalog.SERVICES:
        env = services[name]["environment"]
        assert {k: env[k] for k in tracing.SERVICE_ENV} == tracing.SERVICE_ENV
        assert env["OTEL_TRACES_SAMPLER"] == "parentbased_always_on"
    datasource = yaml.safe_load(
        (
            REPO / "deploy" / "compose" / "grafana" / "provisioning" / "datasources" / "tempo.yaml"
        ).read_text()
    )
    assert datasource["datasources"][0]["url"] == "http://tempo:3200"
