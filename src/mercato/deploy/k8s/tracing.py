"""The ``tracing`` component: the OpenTelemetry Collector, Tempo, their policies, the services' env.

What they run and how they are configured is in ``mercato.deploy.tracing``, shared with compose.
"""

from __future__ import annotations

from mercato.deploy import model
from mercato.deploy.documents import HEADER, to_yaml
from mercato.deploy.k8s.objects import (
    COMPONENT_LABEL,
    MONITORING_NAMESPACE,
    NAME_LABEL,
    ROOT,
    TMP_MOUNT,
    TMP_VOLUME,
    Files,
    Obj,
    component,
    engine_container,
    engine_service,
    http_probe,
    labels,
    meta,
    namespace_peer,
    network_policy,
    peer,
    pod_security,
    service_account,
    statefulset,
    tcp,
)
from mercato.deploy.tracing import (
    COLLECTOR,
    COLLECTOR_HEALTH_PORT,
    COLLECTOR_IMAGE,
    COLLECTOR_METRICS_PORT,
    LOG_SERVICE,
    OTLP_GRPC_PORT,
    OTLP_HTTP_PORT,
    SERVICE_ENV,
    TEMPO,
    TEMPO_DATA,
    TEMPO_HTTP_PORT,
    TEMPO_IMAGE,
    collector_config,
    grafana_datasource,
    tempo_config,
)


def collector_and_tempo() -> Files:
    """``deploy/k8s/components/tracing``: collector, Tempo, their policies, the services' env."""
    uid = model.RUN_AS_USER
    namespace_env = {
        "name": "K8S_NAMESPACE",
        "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}},
    }
    collector_pod = {
        "serviceAccountName": COLLECTOR,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": pod_security(uid),
        "containers": [
            {
                **engine_container(
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
                    livenessProbe=http_probe("/", "health", periodSeconds=10),
                    readinessProbe=http_probe("/", "health", periodSeconds=5),
                    volumeMounts=[
                        {"name": "config", "mountPath": "/etc/otelcol"},
                        TMP_MOUNT,
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
            TMP_VOLUME,
        ],
    }
    collector = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta(COLLECTOR, "tracing"),
        "spec": {
            "replicas": 1,
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": {NAME_LABEL: COLLECTOR}},
            "template": {
                "metadata": {
                    "labels": labels(COLLECTOR, "tracing"),
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
        "securityContext": pod_security(uid),
        "containers": [
            engine_container(
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
                startupProbe=http_probe("/metrics", "http", periodSeconds=2, failureThreshold=60),
                livenessProbe=http_probe("/metrics", "http", periodSeconds=10),
                readinessProbe=http_probe("/ready", "http", periodSeconds=5),
                volumeMounts=[
                    {"name": "data", "mountPath": TEMPO_DATA},
                    {"name": "config", "mountPath": "/etc/tempo"},
                    TMP_MOUNT,
                ],
            )
        ],
        "volumes": [{"name": "config", "configMap": {"name": "tempo-config"}}, TMP_VOLUME],
    }
    tempo = statefulset(TEMPO, 1, tempo_pod, "10Gi", service_name=TEMPO)
    services_with_tracing = {"matchLabels": {COMPONENT_LABEL: "service"}}
    policies = [
        # Every Mercato service may export spans to the collector.
        network_policy(
            "services-to-otel-collector",
            {COMPONENT_LABEL: "service"},
            egress=[{"to": [peer(COLLECTOR)], "ports": tcp(OTLP_HTTP_PORT)}],
        ),
        network_policy(
            COLLECTOR,
            {NAME_LABEL: COLLECTOR},
            ingress=[
                {
                    "from": [{"podSelector": services_with_tracing}],
                    "ports": tcp(OTLP_HTTP_PORT),
                },
                {
                    "from": [namespace_peer(MONITORING_NAMESPACE)],
                    "ports": tcp(COLLECTOR_METRICS_PORT),
                },
            ],
            egress=[
                {"to": [peer(TEMPO)], "ports": tcp(OTLP_GRPC_PORT)},
                {"to": [peer(LOG_SERVICE)], "ports": tcp(model.CONTAINER_PORT)},
            ],
        ),
        # The log service takes the services' log records from the collector (ADR 0033).
        network_policy(
            f"{COLLECTOR}-to-{LOG_SERVICE}",
            {NAME_LABEL: LOG_SERVICE},
            ingress=[{"from": [peer(COLLECTOR)], "ports": tcp(model.CONTAINER_PORT)}],
        ),
        network_policy(
            TEMPO,
            {NAME_LABEL: TEMPO},
            ingress=[
                {"from": [peer(COLLECTOR)], "ports": tcp(OTLP_GRPC_PORT)},
                # Grafana queries, Prometheus scrapes.
                {
                    "from": [namespace_peer(MONITORING_NAMESPACE)],
                    "ports": tcp(TEMPO_HTTP_PORT),
                },
            ],
            egress=[],
        ),
    ]
    path = f"{ROOT}/components/tracing"
    return {
        f"{path}/tracing.yaml": [
            service_account(COLLECTOR, "tracing"),
            engine_service(COLLECTOR, [("otlp-http", OTLP_HTTP_PORT)]),
            collector,
            service_account(TEMPO, "tracing"),
            engine_service(TEMPO, [("http", TEMPO_HTTP_PORT), ("otlp-grpc", OTLP_GRPC_PORT)]),
            tempo,
            *policies,
        ],
        f"{path}/collector.yaml": HEADER + to_yaml(collector_config(kubernetes=True)),
        f"{path}/tempo.yaml": HEADER + to_yaml(tempo_config()),
        f"{path}/kustomization.yaml": component(
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
                        "labelSelector": f"{COMPONENT_LABEL}=service",
                    },
                    "patch": to_yaml(
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
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            **meta(name, "tracing"),
            "labels": {**labels(name, "tracing"), "grafana_datasource": "1"},
        },
        "data": {"tempo.yaml": to_yaml(provisioning)},
    }
