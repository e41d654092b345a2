"""Where traces go when deployed: an OpenTelemetry Collector in front of Grafana Tempo.

Services export OTLP/HTTP to the collector (``OTEL_EXPORTER_OTLP_ENDPOINT``, read by the
chassis, docs/observability.md); the collector batches, caps its memory and forwards
OTLP/gRPC to Tempo, which Grafana queries. Their log records take the same road
(``MERCATO_LOG_SHIPPING_URL``): the collector forwards them to the log service (ADR 0033).
One source for both targets: the ``tracing`` Kustomize component and the compose services.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mercato.deploy import model

Obj = dict[str, Any]
Files = dict[str, Any]

COLLECTOR = "otel-collector"
TEMPO = "tempo"
COLLECTOR_IMAGE = "otel/opentelemetry-collector-contrib:0.116.1"
TEMPO_IMAGE = "grafana/tempo:2.6.1"
OTLP_HTTP_PORT = 4318
OTLP_GRPC_PORT = 4317
COLLECTOR_HEALTH_PORT = 13133
COLLECTOR_METRICS_PORT = 8888
TEMPO_HTTP_PORT = 3200
TEMPO_RETENTION = "72h"
TEMPO_DATA = "/var/tempo"
LOG_SERVICE = "log"

# What every service container gets with tracing deployed.
SERVICE_ENV = {
    "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://{COLLECTOR}:{OTLP_HTTP_PORT}",
    "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
    "MERCATO_LOG_SHIPPING_URL": f"http://{COLLECTOR}:{OTLP_HTTP_PORT}/v1/logs",
}


def sampler_env(ratio: float) -> dict[str, str]:
    """The sampler keeping ``ratio`` of the traces, decided once where a trace starts.

    Parent-based: a service keeps the decision of its caller (or of the event's
    producer), so a trace is kept or dropped whole; only the edge draws.
    """
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(f"a sampling ratio is between 0 and 1, not {ratio}")
    if ratio == 1.0:
        return {"OTEL_TRACES_SAMPLER": "parentbased_always_on"}
    return {
        "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
        "OTEL_TRACES_SAMPLER_ARG": f"{ratio:g}",
    }


def collector_config(*, kubernetes: bool) -> Obj:
    """The collector: OTLP/HTTP in, memory limit, batches, OTLP/gRPC out to Tempo."""
    processors: Obj = {
        "memory_limiter": {
            "check_interval": "1s",
            "limit_percentage": 80,
            "spike_limit_percentage": 20,
        },
        "batch": {"send_batch_size": 1024, "timeout": "2s"},
    }
    chain = ["memory_limiter"]
    if kubernetes:
        # Which environment a span comes from, whatever the service sent.
        processors["resource"] = {
            "attributes": [
                {"key": "k8s.namespace.name", "value": "${env:K8S_NAMESPACE}", "action": "upsert"}
            ]
        }
        chain.append("resource")
    chain.append("batch")
    return {
        "extensions": {"health_check": {"endpoint": f"0.0.0.0:{COLLECTOR_HEALTH_PORT}"}},
        "receivers": {"otlp": {"protocols": {"http": {"endpoint": f"0.0.0.0:{OTLP_HTTP_PORT}"}}}},
        "processors": processors,
        "exporters": {
            "otlp/tempo": {"endpoint": f"{TEMPO}:{OTLP_GRPC_PORT}", "tls": {"insecure": True}},
            # The log service's OTLP/HTTP logs route (the exporter appends /v1/logs).
            "otlphttp/log": {"endpoint": f"http://{LOG_SERVICE}:{model.CONTAINER_PORT}"},
        },
        "service": {
            "extensions": ["health_check"],
            "telemetry": {
                "metrics": {
                    "readers": [
                        {
                            "pull": {
                                "exporter": {
                                    "prometheus": {
                                        "host": "0.0.0.0",  # noqa: S104 (in its pod)
                                        "port": COLLECTOR_METRICS_PORT,
                                    }
                                }
                            }
                        }
                    ]
                }
            },
            "pipelines": {
                "traces": {
                    "receivers": ["otlp"],
                    "processors": chain,
                    "exporters": ["otlp/tempo"],
                },
                "logs": {
                    "receivers": ["otlp"],
                    "processors": chain,
                    "exporters": ["otlphttp/log"],
                },
            },
        },
    }


def tempo_config() -> Obj:
    """Tempo on one node: OTLP/gRPC in, blocks on its volume, kept for three days."""
    return {
        "stream_over_http_enabled": True,
        "server": {"http_listen_port": TEMPO_HTTP_PORT, "log_level": "info"},
        "distributor": {
            "receivers": {
                "otlp": {"protocols": {"grpc": {"endpoint": f"0.0.0.0:{OTLP_GRPC_PORT}"}}}
            }
        },
        "ingester": {"max_block_duration": "5m"},
        "compactor": {"compaction": {"block_retention": TEMPO_RETENTION}},
        "storage": {
            "trace": {
                "backend": "local",
                "wal": {"path": f"{TEMPO_DATA}/wal"},
                "local": {"path": f"{TEMPO_DATA}/blocks"},
            }
        },
        "usage_report": {"reporting_enabled": False},
    }


def grafana_datasource(url: str, *, uid: str = TEMPO, name: str = "Tempo") -> Obj:
    """Grafana's provisioning file for the Tempo datasource."""
    return {
        "apiVersion": 1,
        "datasources": [
            {
                "name": name,
                "uid": uid,
                "type": "tempo",
                "access": "proxy",
                "url": url,
                "isDefault": False,
                "jsonData": {
                    "nodeGraph": {"enabled": True},
                    "search": {"hide": False},
                    "traceQuery": {"timeShiftEnabled": True},
                },
            }
        ],
    }


# -- Kubernetes --------------------------------------------------------------------------


def component(root: str) -> Files:
    """``<root>/components/tracing``: collector, Tempo, their policies, the services' env."""
    from mercato.deploy import k8s, render

    uid = model.RUN_AS_USER
    namespace_env = {
        "name": "K8S_NAMESPACE",
        "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}},
    }
    collector_pod = {
        "serviceAccountName": COLLECTOR,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": k8s.pod_security(uid),
        "containers": [
            {
                **k8s.engine_container(
                    "otel-collector",
                    COLLECTOR_IMAGE,
                    uid,
                    args=["--config=/etc/otelcol/collector.yaml"],
                    env=[namespace_env, {"name": "GOMEMLIMIT", "value": "200MiB"}],
                    ports=[
                        {"name": "otlp-http", "containerPort": OTLP_HTTP_PORT},
                        {"name": "health", "containerPort": COLLECTOR_HEALTH_PORT},
                        {"name": "metrics", "containerPort": COLLECTOR_METRICS_PORT},
                    ],
                    livenessProbe=k8s.http_probe("/", "health", periodSeconds=10),
                    readinessProbe=k8s.http_probe("/", "health", periodSeconds=5),
                    volumeMounts=[
                        {"name": "config", "mountPath": "/etc/otelcol"},
                        k8s.TMP_MOUNT,
                    ],
                ),
                "resources": {
                    "requests": {"cpu": "50m", "memory": "128Mi"},
                    "limits": {"cpu": "500m", "memory": "256Mi"},
                },
            }
        ],
        "volumes": [
            {"name": "config", "configMap": {"name": "otel-collector-config"}},
            k8s.TMP_VOLUME,
        ],
    }
    collector = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": k8s.meta(COLLECTOR, "tracing"),
        "spec": {
            "replicas": 1,
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": {k8s.NAME_LABEL: COLLECTOR}},
            "template": {
                "metadata": {
                    "labels": k8s.labels(COLLECTOR, "tracing"),
                    "annotations": {
                        "prometheus.io/scrape": "true",
                        "prometheus.io/port": str(COLLECTOR_METRICS_PORT),
                        "prometheus.io/path": "/metrics",
                    },
                },
                "spec": collector_pod,
            },
        },
    }
    tempo_pod = {
        "serviceAccountName": TEMPO,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "terminationGracePeriodSeconds": 60,
        "securityContext": k8s.pod_security(uid),
        "containers": [
            k8s.engine_container(
                TEMPO,
                TEMPO_IMAGE,
                uid,
                args=["-config.file=/etc/tempo/tempo.yaml"],
                ports=[
                    {"name": "http", "containerPort": TEMPO_HTTP_PORT},
                    {"name": "otlp-grpc", "containerPort": OTLP_GRPC_PORT},
                ],
                # /ready waits for the ingester to join its ring: fine for readiness, too
                # slow a start for liveness, which only asks that the server answers.
                startupProbe=k8s.http_probe(
                    "/metrics", "http", periodSeconds=2, failureThreshold=60
                ),
                livenessProbe=k8s.http_probe("/metrics", "http", periodSeconds=10),
                readinessProbe=k8s.http_probe("/ready", "http", periodSeconds=5),
                volumeMounts=[
                    {"name": "data", "mountPath": TEMPO_DATA},
                    {"name": "config", "mountPath": "/etc/tempo"},
                    k8s.TMP_MOUNT,
                ],
            )
        ],
        "volumes": [{"name": "config", "configMap": {"name": "tempo-config"}}, k8s.TMP_VOLUME],
    }
    tempo = k8s.statefulset(TEMPO, 1, tempo_pod, "10Gi", service_name=TEMPO)
    services_with_tracing = {"matchLabels": {k8s.COMPONENT_LABEL: "service"}}
    policies = [
        # Every Mercato service may export spans to the collector.
        k8s.network_policy(
            "services-to-otel-collector",
            {k8s.COMPONENT_LABEL: "service"},
            egress=[{"to": [k8s.peer(COLLECTOR)], "ports": k8s.tcp(OTLP_HTTP_PORT)}],
        ),
        k8s.network_policy(
            COLLECTOR,
            {k8s.NAME_LABEL: COLLECTOR},
            ingress=[
                {
                    "from": [{"podSelector": services_with_tracing}],
                    "ports": k8s.tcp(OTLP_HTTP_PORT),
                },
                {
                    "from": [k8s.namespace_peer(k8s.MONITORING_NAMESPACE)],
                    "ports": k8s.tcp(COLLECTOR_METRICS_PORT),
                },
            ],
            egress=[
                {"to": [k8s.peer(TEMPO)], "ports": k8s.tcp(OTLP_GRPC_PORT)},
                {"to": [k8s.peer(LOG_SERVICE)], "ports": k8s.tcp(model.CONTAINER_PORT)},
            ],
        ),
        # The log service takes the services' log records from the collector only.
        k8s.network_policy(
            f"{COLLECTOR}-to-{LOG_SERVICE}",
            {k8s.NAME_LABEL: LOG_SERVICE},
            ingress=[{"from": [k8s.peer(COLLECTOR)], "ports": k8s.tcp(model.CONTAINER_PORT)}],
        ),
        k8s.network_policy(
            TEMPO,
            {k8s.NAME_LABEL: TEMPO},
            ingress=[
                {"from": [k8s.peer(COLLECTOR)], "ports": k8s.tcp(OTLP_GRPC_PORT)},
                # Grafana queries, Prometheus scrapes.
                {
                    "from": [k8s.namespace_peer(k8s.MONITORING_NAMESPACE)],
                    "ports": k8s.tcp(TEMPO_HTTP_PORT),
                },
            ],
            egress=[],
        ),
    ]
    path = f"{root}/components/tracing"
    return {
        f"{path}/tracing.yaml": [
            k8s.service_account(COLLECTOR, "tracing"),
            k8s.engine_service(COLLECTOR, [("otlp-http", OTLP_HTTP_PORT)]),
            collector,
            k8s.service_account(TEMPO, "tracing"),
            k8s.engine_service(TEMPO, [("http", TEMPO_HTTP_PORT), ("otlp-grpc", OTLP_GRPC_PORT)]),
            tempo,
            *policies,
        ],
        f"{path}/collector.yaml": render.HEADER + render.to_yaml(collector_config(kubernetes=True)),
        f"{path}/tempo.yaml": render.HEADER + render.to_yaml(tempo_config()),
        f"{path}/kustomization.yaml": k8s.component(
            resources=["tracing.yaml"],
            configMapGenerator=[
                {"name": "otel-collector-config", "files": ["collector.yaml"]},
                {"name": "tempo-config", "files": ["tempo.yaml"]},
                {
                    "name": "mercato-tracing",
                    "literals": [f"{k}={v}" for k, v in SERVICE_ENV.items()],
                },
            ],
            patches=[
                {
                    "target": {
                        "kind": "Deployment",
                        "labelSelector": f"{k8s.COMPONENT_LABEL}=service",
                    },
                    "patch": render.to_yaml(
                        [
                            {
                                "op": "add",
                                "path": "/spec/template/spec/containers/0/envFrom/-",
                                "value": {"configMapRef": {"name": "mercato-tracing"}},
                            }
                        ]
                    ),
                }
            ],
        ),
    }


def kubernetes_datasource(namespace: str) -> Obj:
    """Grafana's Tempo datasource for one environment, picked up by Grafana's sidecar.

    Grafana (kube-prometheus-stack) runs in the monitoring namespace, so the URL names
    the environment's namespace, and each environment gets a datasource of its own.
    """
    name = "mercato-tempo-datasource"
    environment = namespace.removeprefix("mercato-")
    provisioning = grafana_datasource(
        f"http://{TEMPO}.{namespace}.svc:{TEMPO_HTTP_PORT}",
        uid=f"tempo-{environment}",
        name=f"Tempo ({namespace})",
    )
    from mercato.deploy import k8s, render

    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            **k8s.meta(name, "tracing"),
            "labels": {**k8s.labels(name, "tracing"), "grafana_datasource": "1"},
        },
        "data": {"tempo.yaml": render.to_yaml(provisioning)},
    }


# -- compose ------------------------------------------------------------------------------


def compose_services(healthcheck: Callable[[list[str]], Obj]) -> Obj:
    """The collector and Tempo as compose services."""
    return {
        COLLECTOR: {
            "image": COLLECTOR_IMAGE,
            "restart": "unless-stopped",
            "command": ["--config=/etc/otelcol/collector.yaml"],
            "volumes": ["./tracing/collector.yaml:/etc/otelcol/collector.yaml:ro"],
            "depends_on": {TEMPO: {"condition": "service_started"}},
            # The image is distroless: nothing in it can ask the health endpoint, so no
            # check is claimed. Services do not wait for it (spans are sent in the
            # background and dropped while it is away); a crash restarts it.
            "healthcheck": {"disable": True},
        },
        TEMPO: {
            "image": TEMPO_IMAGE,
            "restart": "unless-stopped",
            "user": f"{model.RUN_AS_USER}:{model.RUN_AS_USER}",
            "command": ["-config.file=/etc/tempo/tempo.yaml"],
            "volumes": [
                "./tracing/tempo.yaml:/etc/tempo/tempo.yaml:ro",
                f"tempo-data:{TEMPO_DATA}",
            ],
            "healthcheck": healthcheck(
                ["CMD", "wget", "-q", "--spider", f"http://127.0.0.1:{TEMPO_HTTP_PORT}/ready"]
            ),
        },
    }


def compose_files(root: str) -> Files:
    """Configuration files the compose services mount, and Grafana's datasource."""
    from mercato.deploy import render

    return {
        f"{root}/tracing/collector.yaml": render.HEADER
        + render.to_yaml(collector_config(kubernetes=False)),
        f"{root}/tracing/tempo.yaml": render.HEADER + render.to_yaml(tempo_config()),
        f"{root}/grafana/provisioning/datasources/tempo.yaml": grafana_datasource(
            f"http://{TEMPO}:{TEMPO_HTTP_PORT}"
        ),
    }
