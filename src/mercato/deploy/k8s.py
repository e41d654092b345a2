"""Kustomize base, components and overlays under ``deploy/k8s``, derived from the catalog.

Every function returns ``{relative path: content}`` where content is a list of
Kubernetes objects (written as one multi-document YAML file) or a kustomization dict.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from mercato import catalog
from mercato.deploy import model, tracing
from mercato.deploy.environments import ENVIRONMENTS, Environment, Resources
from mercato.deploy.model import Deployable
from mercato.platform.security import derive_client_secret
from mercato.platform.settings import DEV_SECRET_PREFIX

Obj = dict[str, Any]
Files = dict[str, Any]

ROOT = "deploy/k8s"
PART_OF = "mercato"
NAME_LABEL = "app.kubernetes.io/name"
COMPONENT_LABEL = "app.kubernetes.io/component"
MONITORING_NAMESPACE = "monitoring"
# Label kube-prometheus-stack's Prometheus selects ServiceMonitors and PrometheusRules by.
PROMETHEUS_RELEASE = {"release": "kube-prometheus-stack"}
SECRET_STORE = "aws-secrets-manager"  # noqa: S105 (a store name, not a secret)
# Where RDS lives: the VPCs Terraform creates are carved out of 10.0.0.0/8.
PRIVATE_NETWORK = "10.0.0.0/8"
ENV_PLACEHOLDER = "ENV"  # the overlay replaces it in every ExternalSecret key

NATS_IMAGE = "nats:2.10.24-alpine"
MINIO_IMAGE = "quay.io/minio/minio:RELEASE.2025-04-22T22-12-26Z"
MC_IMAGE = "quay.io/minio/mc:RELEASE.2025-04-16T18-13-26Z"
POSTGRES_IMAGE = "ghcr.io/cloudnative-pg/postgresql:17.2"
PSQL_IMAGE = "postgres:17.2-alpine"
INITIAL_TAG = "0.1.0"
ENGINE_RESOURCES = Resources(
    requests={"cpu": "100m", "memory": "128Mi"}, limits={"cpu": "500m", "memory": "512Mi"}
)
JOB_RESOURCES = Resources(
    requests={"cpu": "50m", "memory": "64Mi"}, limits={"cpu": "250m", "memory": "256Mi"}
)


# --- building blocks ---------------------------------------------------------------


def labels(name: str, component: str) -> dict[str, str]:
    """The recommended labels every object carries."""
    return {NAME_LABEL: name, "app.kubernetes.io/part-of": PART_OF, COMPONENT_LABEL: component}


def meta(name: str, component: str, **extra: Any) -> Obj:
    """Object metadata with the standard labels."""
    return {"name": name, "labels": labels(name, component), **extra}


def container_security(uid: int = model.RUN_AS_USER) -> Obj:
    """Pod Security "restricted" for a container, plus a read-only root filesystem."""
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def pod_security(uid: int = model.RUN_AS_USER) -> Obj:
    """The pod-level half of the restricted profile."""
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "fsGroup": uid,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


TMP_VOLUME = {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}
TMP_MOUNT = {"name": "tmp", "mountPath": "/tmp"}  # noqa: S108 (the one writable path)


def http_probe(path: str, port: int | str, **timing: int) -> Obj:
    """An HTTP GET probe."""
    return {"httpGet": {"path": path, "port": port}, **timing}


def service_account(name: str, component: str) -> Obj:
    """A ServiceAccount whose token is never mounted (no pod here talks to the API)."""
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": meta(name, component),
        "automountServiceAccountToken": False,
    }


def kustomization(**fields: Any) -> Obj:
    """A Kustomization."""
    return {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", **fields}


def component(**fields: Any) -> Obj:
    """A Kustomize Component."""
    return {"apiVersion": "kustomize.config.k8s.io/v1alpha1", "kind": "Component", **fields}


def network_policy(name: str, selector: dict[str, str], **rules: Any) -> Obj:
    """A NetworkPolicy; ``ingress``/``egress`` keys given decide its policy types."""
    types = [t for t in ("Ingress", "Egress") if t.lower() in rules]
    spec = {"podSelector": {"matchLabels": selector} if selector else {}, "policyTypes": types}
    spec.update(rules)
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": meta(name, "network-policy"),
        "spec": spec,
    }


def peer(name: str) -> Obj:
    """Pods of one named workload in the same namespace."""
    return {"podSelector": {"matchLabels": {NAME_LABEL: name}}}


def namespace_peer(namespace: str) -> Obj:
    """Every pod of another namespace."""
    return {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}}


def tcp(*ports: int) -> list[Obj]:
    """TCP port list of a policy rule."""
    return [{"protocol": "TCP", "port": p} for p in ports]


def db_cluster(service: Deployable) -> str:
    """Name of the service's database cluster (CloudNativePG) or secret prefix."""
    return f"{service.name}-db"


def db_secret(service: Deployable) -> str:
    """Secret holding ``uri``, ``username`` and ``password`` of the service's database.

    CloudNativePG creates it as ``<cluster>-app``; with an external database an
    ExternalSecret creates the same name and keys, so the workloads never change.
    """
    return f"{db_cluster(service)}-app"


def database_engine_peer(service: Deployable) -> Obj:
    """Where the service's in-cluster database pods are."""
    return {"podSelector": {"matchLabels": {"cnpg.io/cluster": db_cluster(service)}}}


# --- base ----------------------------------------------------------------------------


def service_env(service: Deployable) -> list[Obj]:
    """Environment entries that are not in the ConfigMaps: the database URL."""
    if not service.spec.database:
        return []
    return [
        {
            "name": "MERCATO_DATABASE_URL",
            "valueFrom": {"secretKeyRef": {"name": db_secret(service), "key": "uri"}},
        }
    ]


def env_from(service: Deployable) -> list[Obj]:
    """ConfigMaps and Secret every container of the service reads."""
    sources: list[Obj] = [
        {"configMapRef": {"name": "mercato-environment"}},
        {"configMapRef": {"name": f"{service.name}-config"}},
    ]
    if service.secret_env:
        sources.append({"secretRef": {"name": f"{service.name}-secrets"}})
    return sources


def deployment(service: Deployable) -> Obj:
    """The service's Deployment: hardened, probed, sized, scraped."""
    name = service.name
    port = model.CONTAINER_PORT
    container = {
        "name": name,
        "image": service.image,
        "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": "http", "containerPort": port, "protocol": "TCP"}],
        "envFrom": env_from(service),
        "env": service_env(service),
        "startupProbe": http_probe("/health", "http", periodSeconds=2, failureThreshold=30),
        "livenessProbe": http_probe(
            "/health", "http", periodSeconds=10, timeoutSeconds=2, failureThreshold=3
        ),
        "readinessProbe": http_probe(
            "/ready", "http", periodSeconds=5, timeoutSeconds=3, failureThreshold=3
        ),
        "lifecycle": {"preStop": {"sleep": {"seconds": model.PRESTOP_PAUSE_SECONDS}}},
        "resources": Resources().as_dict(),
        "securityContext": container_security(),
        "volumeMounts": [TMP_MOUNT],
    }
    if not container["env"]:
        del container["env"]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta(name, "service", annotations={"argocd.argoproj.io/sync-wave": "2"}),
        "spec": {
            "replicas": 1,
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": {NAME_LABEL: name}},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
            },
            "template": {
                "metadata": {
                    "labels": labels(name, "service"),
                    "annotations": {
                        "prometheus.io/scrape": "true",
                        "prometheus.io/port": str(port),
                        "prometheus.io/path": "/metrics",
                    },
                },
                "spec": {
                    "serviceAccountName": name,
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "terminationGracePeriodSeconds": model.TERMINATION_GRACE_SECONDS,
                    "securityContext": pod_security(),
                    "containers": [container],
                    "volumes": [TMP_VOLUME],
                },
            },
        },
    }


def service_object(service: Deployable) -> Obj:
    """The ClusterIP Service in front of the Deployment."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta(service.name, "service"),
        "spec": {
            "type": "ClusterIP",
            "selector": {NAME_LABEL: service.name},
            "ports": [
                {"name": "http", "port": model.CONTAINER_PORT, "targetPort": "http"},
            ],
        },
    }


def migration_job(service: Deployable) -> Obj:
    """Upgrades the service's database before the new pods start (Argo CD Sync hook)."""
    name = f"{service.name}-migrate"
    container = {
        "name": "migrate",
        "image": service.image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["python", "-m", "mercato.platform.migrations", service.name],
        "envFrom": env_from(service),
        "env": service_env(service),
        "resources": JOB_RESOURCES.as_dict(),
        "securityContext": container_security(),
        "volumeMounts": [TMP_MOUNT],
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": meta(
            name,
            "migration",
            annotations={
                # Jobs are immutable: Argo CD recreates the hook on every sync, after the
                # configuration (wave 0) and before the Deployments (wave 2).
                "argocd.argoproj.io/hook": "Sync",
                "argocd.argoproj.io/hook-delete-policy": "BeforeHookCreation",
                "argocd.argoproj.io/sync-wave": "1",
            },
        ),
        "spec": {
            "backoffLimit": 6,
            "activeDeadlineSeconds": 600,
            "ttlSecondsAfterFinished": 86400,
            "template": {
                "metadata": {"labels": labels(name, "migration")},
                "spec": {
                    "serviceAccountName": service.name,
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "restartPolicy": "Never",
                    "securityContext": pod_security(),
                    "containers": [container],
                    "volumes": [TMP_VOLUME],
                },
            },
        },
    }


def base() -> Files:
    """Per service: Deployment, Service, ServiceAccount, ConfigMap and migration Job."""
    files: Files = {}
    resources = []
    config_maps = []
    for service in model.services():
        objects = [
            service_account(service.name, "service"),
            service_object(service),
            deployment(service),
        ]
        if service.spec.database:
            objects.append(migration_job(service))
        files[f"{ROOT}/base/{service.name}.yaml"] = objects
        resources.append(f"{service.name}.yaml")
        config_maps.append(
            {
                "name": f"{service.name}-config",
                "literals": [f"{k}={v}" for k, v in service.config_env().items()],
                "options": {"labels": labels(f"{service.name}-config", "service")},
            }
        )
    files[f"{ROOT}/base/kustomization.yaml"] = kustomization(
        labels=[{"pairs": {"app.kubernetes.io/part-of": PART_OF}}],
        resources=resources,
        configMapGenerator=config_maps,
    )
    return files


# --- components: network policies ------------------------------------------------------


def service_policy(service: Deployable) -> Obj:
    """Who may call the service, and what the service may reach."""
    name = service.name
    callers = catalog.dependents(name)
    ingress: list[Obj] = []
    if name == "gateway":
        # The public entry: the load balancer reaches it from outside the cluster.
        ingress.append({"ports": tcp(model.CONTAINER_PORT)})
    elif callers:
        ingress.append({"from": [peer(c) for c in callers], "ports": tcp(model.CONTAINER_PORT)})
    ingress.append(
        {"from": [namespace_peer(MONITORING_NAMESPACE)], "ports": tcp(model.CONTAINER_PORT)}
    )
    egress: list[Obj] = [
        {"to": [peer(callee)], "ports": tcp(model.CONTAINER_PORT)}
        for callee in catalog.sync_dependencies(name)
    ]
    egress += engine_egress(service)
    return network_policy(name, {NAME_LABEL: name}, ingress=ingress, egress=egress)


def engine_egress(service: Deployable) -> list[Obj]:
    """Egress to the in-cluster engines the service needs (external-db adds RDS)."""
    rules: list[Obj] = []
    for engine in model.ENGINE_PORTS:
        if not service.reaches(engine):
            continue
        port = model.ENGINE_PORTS[engine]
        if engine == "postgres":
            rules.append({"to": [database_engine_peer(service)], "ports": tcp(port)})
        elif engine == "nats":
            rules.append({"to": [peer("nats")], "ports": tcp(port)})
        elif engine == "s3":
            rules.append({"to": [peer("minio")], "ports": tcp(port)})
        elif engine == "smtp":
            # The relay is outside the cluster; submission port only.
            rules.append({"ports": tcp(port)})
    return rules


def network_policies() -> Files:
    """Default deny, DNS, and one allow rule per catalog edge and engine."""
    objects: list[Obj] = [
        network_policy("default-deny", {}, ingress=[], egress=[]),
        network_policy(
            "allow-dns",
            {},
            egress=[
                {
                    "to": [
                        {
                            **namespace_peer("kube-system"),
                            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                        }
                    ],
                    "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
                }
            ],
        ),
    ]
    for service in model.services():
        objects.append(service_policy(service))
        if service.spec.database:
            objects.append(
                network_policy(
                    f"{service.name}-migrate",
                    {NAME_LABEL: f"{service.name}-migrate"},
                    ingress=[],
                    egress=[
                        {
                            "to": [database_engine_peer(service)],
                            "ports": tcp(model.ENGINE_PORTS["postgres"]),
                        }
                    ],
                )
            )
    path = f"{ROOT}/components/network-policies"
    return {
        f"{path}/policies.yaml": objects,
        f"{path}/kustomization.yaml": component(resources=["policies.yaml"]),
    }


# --- components: monitoring --------------------------------------------------------------


def monitoring(repo: Path) -> Files:
    """ServiceMonitors per service; rules and dashboards from deploy/monitoring if present."""
    monitors = [
        {
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "ServiceMonitor",
            "metadata": {
                **meta(s.name, "monitoring"),
                "labels": {**labels(s.name, "monitoring"), **PROMETHEUS_RELEASE},
            },
            "spec": {
                "selector": {"matchLabels": {NAME_LABEL: s.name, COMPONENT_LABEL: "service"}},
                # The chassis labels every series with its service; keep that label rather
                # than renaming it exported_service (docs/observability.md).
                "endpoints": [
                    {"port": "http", "path": "/metrics", "interval": "30s", "honorLabels": True}
                ],
            },
        }
        for s in model.services()
    ]
    path = f"{ROOT}/components/monitoring"
    files: Files = {f"{path}/servicemonitors.yaml": monitors}
    resources = ["servicemonitors.yaml"]
    rules = []
    for rule_file in sorted((repo / "deploy/monitoring/prometheus").glob("*.y*ml")):
        content = yaml.safe_load(rule_file.read_text()) or {}
        if not content.get("groups"):
            continue
        rules.append(
            {
                "apiVersion": "monitoring.coreos.com/v1",
                "kind": "PrometheusRule",
                "metadata": {
                    **meta(f"mercato-{rule_file.stem}", "monitoring"),
                    "labels": {
                        **labels(f"mercato-{rule_file.stem}", "monitoring"),
                        **PROMETHEUS_RELEASE,
                    },
                },
                "spec": {"groups": content["groups"]},
            }
        )
    if rules:
        files[f"{path}/prometheusrules.yaml"] = rules
        resources.append("prometheusrules.yaml")
    dashboards = []
    for dashboard in sorted((repo / "deploy/monitoring/grafana").glob("**/*.json")):
        name = f"mercato-dashboard-{dashboard.stem}"
        dashboards.append(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {
                    **meta(name, "monitoring"),
                    "labels": {**labels(name, "monitoring"), "grafana_dashboard": "1"},
                },
                "data": {dashboard.name: dashboard.read_text()},
            }
        )
    if dashboards:
        files[f"{path}/dashboards.yaml"] = dashboards
        resources.append("dashboards.yaml")
    files[f"{path}/kustomization.yaml"] = component(resources=resources)
    return files


# --- components: engines -------------------------------------------------------------------


def engine_container(name: str, image: str, uid: int, **fields: Any) -> Obj:
    """A hardened engine container with the engine sizing and a writable /tmp."""
    return {
        "name": name,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        **fields,
        "resources": ENGINE_RESOURCES.as_dict(),
        "securityContext": container_security(uid),
    }


def statefulset(
    name: str, replicas: int, pod_spec: Obj, storage: str, service_name: str | None = None
) -> Obj:
    """A StatefulSet with one PersistentVolumeClaim per replica mounted at /data."""
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": meta(name, "engine"),
        "spec": {
            "serviceName": service_name or f"{name}-headless",
            "replicas": replicas,
            "podManagementPolicy": "Parallel",
            "selector": {"matchLabels": {NAME_LABEL: name}},
            "template": {"metadata": {"labels": labels(name, "engine")}, "spec": pod_spec},
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "data"},
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": storage}},
                    },
                }
            ],
        },
    }


def engine_service(name: str, ports: list[tuple[str, int]], headless: bool = False) -> Obj:
    """A Service for an engine."""
    spec: Obj = {
        "selector": {NAME_LABEL: name.removesuffix("-headless").removesuffix("-console")},
        "ports": [{"name": n, "port": p, "targetPort": p} for n, p in ports],
    }
    if headless:
        spec["clusterIP"] = "None"
        spec["publishNotReadyAddresses"] = True
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta(name, "engine"), "spec": spec}


def nats_config(replicas: int) -> str:
    """nats.conf: JetStream on the volume; a cluster block only with peers to form one."""
    lines = [
        f"port: {model.ENGINE_PORTS['nats']}",
        f"http_port: {model.NATS_MONITOR_PORT}",
        "server_name: $POD_NAME",
        "jetstream {",
        "  store_dir: /data",
        "  max_file_store: 8Gi",
        "  max_memory_store: 128Mi",
        "}",
    ]
    if replicas > 1:
        routes = ", ".join(
            f"nats://nats-{i}.nats-headless:{model.NATS_CLUSTER_PORT}" for i in range(replicas)
        )
        lines += [
            "cluster {",
            "  name: mercato",
            f"  port: {model.NATS_CLUSTER_PORT}",
            f"  routes: [{routes}]",
            "}",
        ]
    return "\n".join(lines) + "\n"


def nats() -> Files:
    """NATS with JetStream as a StatefulSet (one node; prod patches it to three)."""
    uid = model.RUN_AS_USER
    pod = {
        "serviceAccountName": "nats",
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "terminationGracePeriodSeconds": 60,
        "securityContext": pod_security(uid),
        "containers": [
            engine_container(
                "nats",
                NATS_IMAGE,
                uid,
                args=["-c", "/etc/nats/nats.conf"],
                env=[
                    {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}
                ],
                ports=[
                    {"name": "client", "containerPort": model.ENGINE_PORTS["nats"]},
                    {"name": "cluster", "containerPort": model.NATS_CLUSTER_PORT},
                    {"name": "monitor", "containerPort": model.NATS_MONITOR_PORT},
                ],
                startupProbe=http_probe(
                    "/healthz", "monitor", periodSeconds=2, failureThreshold=60
                ),
                livenessProbe=http_probe(
                    "/healthz?js-enabled-only=true", "monitor", periodSeconds=10
                ),
                readinessProbe=http_probe("/healthz", "monitor", periodSeconds=5),
                volumeMounts=[
                    {"name": "data", "mountPath": "/data"},
                    {"name": "config", "mountPath": "/etc/nats"},
                    TMP_MOUNT,
                ],
            )
        ],
        "volumes": [{"name": "config", "configMap": {"name": "nats-config"}}, TMP_VOLUME],
    }
    users = [s.name for s in model.services() if s.reaches("nats")]
    policy = network_policy(
        "nats",
        {NAME_LABEL: "nats"},
        ingress=[
            {"from": [peer(u) for u in users], "ports": tcp(model.ENGINE_PORTS["nats"])},
            {"from": [peer("nats")], "ports": tcp(model.NATS_CLUSTER_PORT)},
            {"from": [namespace_peer(MONITORING_NAMESPACE)], "ports": tcp(model.NATS_MONITOR_PORT)},
        ],
        egress=[{"to": [peer("nats")], "ports": tcp(model.NATS_CLUSTER_PORT)}],
    )
    path = f"{ROOT}/components/nats"
    return {
        f"{path}/nats.yaml": [
            service_account("nats", "engine"),
            engine_service("nats", [("client", model.ENGINE_PORTS["nats"])]),
            engine_service(
                "nats-headless",
                [
                    ("client", model.ENGINE_PORTS["nats"]),
                    ("cluster", model.NATS_CLUSTER_PORT),
                    ("monitor", model.NATS_MONITOR_PORT),
                ],
                headless=True,
            ),
            statefulset("nats", 1, pod, "10Gi"),
            policy,
        ],
        f"{path}/nats.conf": nats_config(1),
        f"{path}/kustomization.yaml": component(
            resources=["nats.yaml"],
            configMapGenerator=[{"name": "nats-config", "files": ["nats.conf"]}],
        ),
    }


def minio() -> Files:
    """MinIO on a persistent volume, its console, and a Job creating the catalog's buckets."""
    uid = model.RUN_AS_USER
    credentials = [
        {"name": key, "valueFrom": {"secretKeyRef": {"name": "minio-credentials", "key": key}}}
        for key in ("MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD")
    ]
    pod = {
        "serviceAccountName": "minio",
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": pod_security(uid),
        "containers": [
            engine_container(
                "minio",
                MINIO_IMAGE,
                uid,
                args=["server", "/data", "--console-address", f":{model.MINIO_CONSOLE_PORT}"],
                env=[*credentials, {"name": "HOME", "value": TMP_MOUNT["mountPath"]}],
                ports=[
                    {"name": "s3", "containerPort": model.ENGINE_PORTS["s3"]},
                    {"name": "console", "containerPort": model.MINIO_CONSOLE_PORT},
                ],
                startupProbe=http_probe(
                    "/minio/health/live", "s3", periodSeconds=2, failureThreshold=60
                ),
                livenessProbe=http_probe("/minio/health/live", "s3", periodSeconds=10),
                readinessProbe=http_probe("/minio/health/ready", "s3", periodSeconds=5),
                volumeMounts=[{"name": "data", "mountPath": "/data"}, TMP_MOUNT],
            )
        ],
        "volumes": [TMP_VOLUME],
    }
    buckets = sorted({b for s in model.services() for b in s.buckets})
    script = "\n".join(
        [
            "set -eu",
            'export MC_HOST_mercato="http://${MINIO_ROOT_USER}:${MINIO_ROOT_PASSWORD}@minio:'
            f'{model.ENGINE_PORTS["s3"]}"',
            *(f"mc mb --ignore-existing mercato/{b}" for b in buckets),
        ]
    )
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": meta(
            "minio-buckets",
            "engine",
            annotations={
                "argocd.argoproj.io/hook": "Sync",
                "argocd.argoproj.io/hook-delete-policy": "BeforeHookCreation",
                "argocd.argoproj.io/sync-wave": "1",
            },
        ),
        "spec": {
            "backoffLimit": 10,
            "ttlSecondsAfterFinished": 86400,
            "template": {
                "metadata": {"labels": labels("minio-buckets", "engine")},
                "spec": {
                    "serviceAccountName": "minio",
                    "automountServiceAccountToken": False,
                    "restartPolicy": "OnFailure",
                    "securityContext": pod_security(uid),
                    "containers": [
                        {
                            **engine_container(
                                "mc",
                                MC_IMAGE,
                                uid,
                                command=["/bin/sh", "-c", script],
                                env=[
                                    *credentials,
                                    {
                                        "name": "MC_CONFIG_DIR",
                                        "value": TMP_MOUNT["mountPath"] + "/mc",
                                    },
                                ],
                                volumeMounts=[TMP_MOUNT],
                            ),
                            "resources": JOB_RESOURCES.as_dict(),
                        }
                    ],
                    "volumes": [TMP_VOLUME],
                },
            },
        },
    }
    users = [s.name for s in model.services() if s.reaches("s3")]
    policies = [
        network_policy(
            "minio",
            {NAME_LABEL: "minio"},
            ingress=[
                # Browsers upload and download through presigned URLs (signed per request).
                {"ports": tcp(model.ENGINE_PORTS["s3"])},
                {"from": [peer(u) for u in users], "ports": tcp(model.ENGINE_PORTS["s3"])},
            ],
            egress=[],
        ),
        network_policy(
            "minio-buckets",
            {NAME_LABEL: "minio-buckets"},
            egress=[{"to": [peer("minio")], "ports": tcp(model.ENGINE_PORTS["s3"])}],
        ),
    ]
    path = f"{ROOT}/components/minio"
    return {
        f"{path}/minio.yaml": [
            service_account("minio", "engine"),
            engine_service("minio", [("s3", model.ENGINE_PORTS["s3"])]),
            engine_service("minio-console", [("console", model.MINIO_CONSOLE_PORT)]),
            statefulset("minio", 1, pod, "20Gi", service_name="minio"),
            job,
            *policies,
        ],
        f"{path}/kustomization.yaml": component(resources=["minio.yaml"]),
    }


def postgres() -> Files:
    """One CloudNativePG Cluster per service database (the in-cluster option)."""
    clusters = []
    for service in model.with_engine("postgres"):
        name = db_cluster(service)
        clusters.append(
            {
                "apiVersion": "postgresql.cnpg.io/v1",
                "kind": "Cluster",
                "metadata": meta(name, "database"),
                "spec": {
                    "instances": 1,
                    "imageName": POSTGRES_IMAGE,
                    "bootstrap": {
                        "initdb": {"database": service.spec.database, "owner": service.db_role}
                    },
                    "storage": {"size": "5Gi"},
                    "resources": ENGINE_RESOURCES.as_dict(),
                    "monitoring": {"enablePodMonitor": False},
                },
            }
        )
        clients = [service.name, f"{service.name}-migrate"]
        clusters.append(
            network_policy(
                name,
                {"cnpg.io/cluster": name},
                ingress=[
                    {"from": [peer(c) for c in clients], "ports": tcp(5432)},
                    # The operator checks instance status; replicas stream from the primary.
                    {"from": [namespace_peer("cnpg-system")], "ports": tcp(5432, 8000)},
                    {"from": [database_engine_peer(service)], "ports": tcp(5432, 8000)},
                    {"from": [namespace_peer(MONITORING_NAMESPACE)], "ports": tcp(9187)},
                ],
                egress=[
                    {"to": [database_engine_peer(service)], "ports": tcp(5432, 8000)},
                    # The instance manager talks to the Kubernetes API server.
                    {"ports": tcp(443, 6443)},
                ],
            )
        )
    path = f"{ROOT}/components/postgres"
    return {
        f"{path}/clusters.yaml": clusters,
        f"{path}/kustomization.yaml": component(resources=["clusters.yaml"]),
    }


def external_secret(name: str, key: str, **target: Any) -> Obj:
    """An ExternalSecret copying one AWS Secrets Manager entry (JSON) into a Secret."""
    return {
        "apiVersion": "external-secrets.io/v1",
        "kind": "ExternalSecret",
        "metadata": {**meta(name, "secret"), "annotations": {"argocd.argoproj.io/sync-wave": "0"}},
        "spec": {
            "refreshInterval": "1h",
            "secretStoreRef": {"kind": "SecretStore", "name": SECRET_STORE},
            "target": {"name": name, "creationPolicy": "Owner", **target},
            "dataFrom": [{"extract": {"key": f"mercato/{ENV_PLACEHOLDER}/{key}"}}],
        },
    }


def external_db() -> Files:
    """Per-service database secrets from Secrets Manager (RDS) and a bootstrap Job.

    RDS forces TLS (rds.force_ssl), so the URL asks asyncpg for it (``ssl=require``).
    """
    objects: list[Obj] = []
    services = model.with_engine("postgres")
    for service in services:
        database = service.spec.database
        objects.append(
            external_secret(
                db_secret(service),
                f"{service.name}/database",
                template={
                    "engineVersion": "v2",
                    "data": {
                        "username": "{{ .username }}",
                        "password": "{{ .password }}",
                        "uri": "postgresql://{{ .username }}:{{ .password | urlquery }}"
                        "@{{ .host }}:{{ .port }}/" + f"{database}?ssl=require",
                    },
                },
            )
        )
        objects.append(
            network_policy(
                f"{service.name}-database",
                {NAME_LABEL: service.name},
                egress=[{"to": [{"ipBlock": {"cidr": PRIVATE_NETWORK}}], "ports": tcp(5432)}],
            )
        )
        objects.append(
            network_policy(
                f"{service.name}-migrate-database",
                {NAME_LABEL: f"{service.name}-migrate"},
                egress=[{"to": [{"ipBlock": {"cidr": PRIVATE_NETWORK}}], "ports": tcp(5432)}],
            )
        )
    objects.append(external_secret("database-admin", "database-admin"))
    # Creates each service's role and database on the shared RDS instance, idempotently.
    # Names come from the catalog; the passwords stay psql variables quoted by format(%L).
    sql = ["\\set ON_ERROR_STOP on"]
    env = [
        {
            "name": "PGPASSWORD",
            "valueFrom": {"secretKeyRef": {"name": "database-admin", "key": "password"}},
        }
    ]
    for key in ("host", "username"):
        env.append(
            {
                "name": f"ADMIN_{key.upper()}",
                "valueFrom": {"secretKeyRef": {"name": "database-admin", "key": key}},
            }
        )
    for service in services:
        role = service.db_role
        variable = f"{service.name}_password"
        env.append(
            {
                "name": variable.upper(),
                "valueFrom": {"secretKeyRef": {"name": db_secret(service), "key": "password"}},
            }
        )
        sql += [
            f"\\getenv {variable} {variable.upper()}",
            f"SELECT format('CREATE ROLE %I LOGIN', '{role}') WHERE NOT EXISTS "  # noqa: S608
            f"(SELECT FROM pg_roles WHERE rolname = '{role}')\\gexec",
            f"SELECT format('ALTER ROLE %I PASSWORD %L', '{role}', :'{variable}')\\gexec",
            f"SELECT format('GRANT %I TO CURRENT_USER', '{role}')\\gexec",
            f"SELECT format('CREATE DATABASE %I OWNER %I', '{service.spec.database}', '{role}') "  # noqa: S608
            f"WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '{service.spec.database}')"
            "\\gexec",
        ]
    uid = model.RUN_AS_USER
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": meta(
            "database-bootstrap",
            "database",
            annotations={
                "argocd.argoproj.io/hook": "Sync",
                "argocd.argoproj.io/hook-delete-policy": "BeforeHookCreation",
                "argocd.argoproj.io/sync-wave": "0",
            },
        ),
        "spec": {
            "backoffLimit": 10,
            "ttlSecondsAfterFinished": 86400,
            "template": {
                "metadata": {"labels": labels("database-bootstrap", "database")},
                "spec": {
                    "serviceAccountName": "database-bootstrap",
                    "automountServiceAccountToken": False,
                    "restartPolicy": "OnFailure",
                    "securityContext": pod_security(uid),
                    "containers": [
                        {
                            **engine_container(
                                "psql",
                                PSQL_IMAGE,
                                uid,
                                command=[
                                    "psql",
                                    "--no-psqlrc",
                                    "--host=$(ADMIN_HOST)",
                                    "--username=$(ADMIN_USERNAME)",
                                    "--dbname=postgres",
                                    "--file=/etc/bootstrap/bootstrap.sql",
                                ],
                                env=[*env, {"name": "PGSSLMODE", "value": "require"}],
                                volumeMounts=[
                                    {"name": "script", "mountPath": "/etc/bootstrap"},
                                    TMP_MOUNT,
                                ],
                            ),
                            "resources": JOB_RESOURCES.as_dict(),
                        }
                    ],
                    "volumes": [
                        {"name": "script", "configMap": {"name": "database-bootstrap"}},
                        TMP_VOLUME,
                    ],
                },
            },
        },
    }
    objects += [
        service_account("database-bootstrap", "database"),
        job,
        network_policy(
            "database-bootstrap",
            {NAME_LABEL: "database-bootstrap"},
            egress=[{"to": [{"ipBlock": {"cidr": PRIVATE_NETWORK}}], "ports": tcp(5432)}],
        ),
    ]
    path = f"{ROOT}/components/external-db"
    return {
        f"{path}/external-db.yaml": objects,
        f"{path}/bootstrap.sql": "\n".join(sql) + "\n",
        f"{path}/kustomization.yaml": component(
            resources=["external-db.yaml"],
            configMapGenerator=[{"name": "database-bootstrap", "files": ["bootstrap.sql"]}],
        ),
    }


def external_secrets() -> Files:
    """Application and MinIO secrets from AWS Secrets Manager (stg, prod)."""
    objects = [
        external_secret(f"{s.name}-secrets", s.name) for s in model.services() if s.secret_env
    ]
    objects.append(external_secret("minio-credentials", "minio"))
    path = f"{ROOT}/components/external-secrets"
    return {
        f"{path}/external-secrets.yaml": objects,
        f"{path}/kustomization.yaml": component(resources=["external-secrets.yaml"]),
    }


# --- overlays ------------------------------------------------------------------------------


def dev_secret_value(name: str) -> str:
    """A development-only secret: the chassis's recognisable dev prefix, never valid in stg/prod."""
    return DEV_SECRET_PREFIX + name


def dev_secrets() -> list[Obj]:
    """secretGenerator entries for dev: recognisable development-only values."""
    s3_user = "mercato-dev"
    s3_password = dev_secret_value("minio-password")
    auth_key = dev_secret_value("auth-secret-key")
    generated = [
        {
            "name": "minio-credentials",
            "literals": [f"MINIO_ROOT_USER={s3_user}", f"MINIO_ROOT_PASSWORD={s3_password}"],
        }
    ]
    for service in model.services():
        if not service.secret_env:
            continue
        values = {
            "MERCATO_SECRET_KEY": auth_key,
            "MERCATO_S3_ACCESS_KEY": s3_user,
            "MERCATO_S3_SECRET_KEY": s3_password,
            "MERCATO_CLIENT_SECRET": derive_client_secret(auth_key, service.name),
        }
        generated.append(
            {
                "name": f"{service.name}-secrets",
                "literals": [
                    f"{key}={values.get(key, dev_secret_value(key.lower()))}"
                    for key in service.secret_env
                ],
            }
        )
    return generated


def namespace(env: Environment) -> Obj:
    """The namespace, enforcing Pod Security "restricted"."""
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": env.namespace,
            "labels": {
                "app.kubernetes.io/part-of": PART_OF,
                "pod-security.kubernetes.io/enforce": "restricted",
                "pod-security.kubernetes.io/enforce-version": "latest",
                "pod-security.kubernetes.io/audit": "restricted",
                "pod-security.kubernetes.io/warn": "restricted",
            },
        },
    }


def ingress(env: Environment) -> Obj:
    """The ALB: HTTPS only (HTTP redirects), the gateway as the one backend, MinIO for files."""
    if not (env.host and env.files_host and env.certificate_arn):
        raise ValueError(f"{env.name} has no public host")
    rules = [
        (env.host, "gateway", model.CONTAINER_PORT),
        (env.files_host, "minio", model.ENGINE_PORTS["s3"]),
    ]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {
            **meta("mercato", "ingress"),
            "annotations": {
                "alb.ingress.kubernetes.io/scheme": "internet-facing",
                "alb.ingress.kubernetes.io/target-type": "ip",
                "alb.ingress.kubernetes.io/listen-ports": '[{"HTTP": 80}, {"HTTPS": 443}]',
                "alb.ingress.kubernetes.io/ssl-redirect": "443",
                "alb.ingress.kubernetes.io/certificate-arn": str(env.certificate_arn),
                "alb.ingress.kubernetes.io/ssl-policy": "ELBSecurityPolicy-TLS13-1-2-2021-06",
                "alb.ingress.kubernetes.io/healthcheck-path": "/health",
                "alb.ingress.kubernetes.io/load-balancer-attributes": (
                    "routing.http.drop_invalid_header_fields.enabled=true,"
                    # The gateway counts one trusted hop: the ALB must append, not replace
                    # or drop, and add no port (ADR 0025).
                    "routing.http.xff_header_processing.mode=append,"
                    "routing.http.xff_client_port.enabled=false"
                ),
            },
        },
        "spec": {
            "ingressClassName": "alb",
            "tls": [{"hosts": [env.host, env.files_host]}],
            "rules": [
                {
                    "host": host,
                    "http": {
                        "paths": [
                            {
                                "path": "/",
                                "pathType": "Prefix",
                                "backend": {"service": {"name": svc, "port": {"number": port}}},
                            }
                        ]
                    },
                }
                for host, svc, port in rules
            ],
        },
    }


def autoscaling(env: Environment) -> list[Obj]:
    """Per service an HPA on CPU and memory and a PodDisruptionBudget."""
    objects: list[Obj] = []
    for service in model.services():
        name = service.name
        objects.append(
            {
                "apiVersion": "autoscaling/v2",
                "kind": "HorizontalPodAutoscaler",
                "metadata": meta(name, "service"),
                "spec": {
                    "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                    "minReplicas": env.replicas_of(name),
                    "maxReplicas": env.max_replicas,
                    "metrics": [
                        {
                            "type": "Resource",
                            "resource": {
                                "name": resource,
                                "target": {"type": "Utilization", "averageUtilization": target},
                            },
                        }
                        for resource, target in (("cpu", 70), ("memory", 80))
                    ],
                    "behavior": {
                        # Scale up fast on a burst; scale down slowly so load spikes do not flap.
                        "scaleUp": {
                            "stabilizationWindowSeconds": 30,
                            "policies": [{"type": "Pods", "value": 2, "periodSeconds": 60}],
                        },
                        "scaleDown": {
                            "stabilizationWindowSeconds": 300,
                            "policies": [{"type": "Pods", "value": 1, "periodSeconds": 120}],
                        },
                    },
                },
            }
        )
        objects.append(
            {
                "apiVersion": "policy/v1",
                "kind": "PodDisruptionBudget",
                "metadata": meta(name, "service"),
                "spec": {
                    "maxUnavailable": 1,
                    "selector": {"matchLabels": {NAME_LABEL: name}},
                },
            }
        )
    return objects


def spread_patch(name: str) -> Obj:
    """Spread a service's pods over zones and hosts."""
    constraints = [
        {
            "maxSkew": 1,
            "topologyKey": key,
            "whenUnsatisfiable": when,
            "labelSelector": {"matchLabels": {NAME_LABEL: name}},
        }
        for key, when in (
            ("topology.kubernetes.io/zone", "ScheduleAnyway"),
            ("kubernetes.io/hostname", "DoNotSchedule"),
        )
    ]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {"template": {"spec": {"topologySpreadConstraints": constraints}}},
    }


def images_component(env: Environment, existing: dict[str, Obj]) -> Obj:
    """The environment's image names and tags; tags set by the release pipeline survive."""
    entries = []
    for service in model.services():
        current = existing.get(service.image, {})
        entries.append(
            {
                "name": service.image,
                "newName": current.get("newName", service.image),
                "newTag": str(current.get("newTag", INITIAL_TAG)),
            }
        )
    return component(images=entries)


def read_images(repo: Path, env_name: str) -> dict[str, Obj]:
    """The image entries committed for an environment, by image name."""
    path = repo / ROOT / "overlays" / env_name / "images" / "kustomization.yaml"
    if not path.exists():
        return {}
    content = yaml.safe_load(path.read_text()) or {}
    return {entry["name"]: entry for entry in content.get("images", [])}


def overlay(env: Environment, repo: Path) -> Files:
    """One environment's overlay."""
    path = f"{ROOT}/overlays/{env.name}"
    files: Files = {
        f"{path}/namespace.yaml": [namespace(env)],
        f"{path}/images/kustomization.yaml": images_component(env, read_images(repo, env.name)),
    }
    resources = ["namespace.yaml", "../../base"]
    components = [
        "../../components/network-policies",
        "../../components/monitoring",
        "../../components/tracing",
        "../../components/nats",
        "../../components/minio",
    ]
    if env.in_cluster_database:
        components.append("../../components/postgres")
    else:
        components.append("../../components/external-db")
    if env.external_secrets:
        components.append("../../components/external-secrets")
        files[f"{path}/secret-store.yaml"] = [
            {
                "apiVersion": "external-secrets.io/v1",
                "kind": "SecretStore",
                "metadata": meta(SECRET_STORE, "secret"),
                "spec": {
                    "provider": {
                        # Credentials: the External Secrets operator's IRSA role, which
                        # Terraform limits to mercato/<env>/* (deploy/terraform/modules/iam).
                        "aws": {"service": "SecretsManager", "region": env.region}
                    }
                },
            }
        ]
        resources.append("secret-store.yaml")
    # Grafana runs in the monitoring namespace: its Tempo datasource names this one.
    files[f"{path}/grafana-datasources.yaml"] = [tracing.kubernetes_datasource(env.namespace)]
    resources.append("grafana-datasources.yaml")
    if env.host:
        files[f"{path}/ingress.yaml"] = [ingress(env)]
        resources.append("ingress.yaml")
    components.append("images")

    patches: list[Obj] = []
    for service in model.services():
        target = {"kind": "Deployment", "name": service.name}
        if env.autoscaling:
            # The HPA owns the replica count; a fixed one would fight it on every sync.
            patches.append(
                {
                    "target": target,
                    "patch": yaml.safe_dump([{"op": "remove", "path": "/spec/replicas"}]),
                }
            )
        elif env.replicas_of(service.name) != 1:
            patches.append(
                {
                    "target": target,
                    "patch": yaml.safe_dump(
                        [
                            {
                                "op": "replace",
                                "path": "/spec/replicas",
                                "value": env.replicas_of(service.name),
                            }
                        ]
                    ),
                }
            )
        if env.replicas_of(service.name) > 1:
            patches.append(
                {
                    "target": target,
                    "patch": yaml.safe_dump(spread_patch(service.name), sort_keys=False),
                }
            )
        if service.name in env.resources:
            patches.append(
                {
                    "target": target,
                    "patch": yaml.safe_dump(
                        [
                            {
                                "op": "replace",
                                "path": "/spec/template/spec/containers/0/resources",
                                "value": env.resources[service.name].as_dict(),
                            }
                        ],
                        sort_keys=False,
                    ),
                }
            )
    if env.autoscaling:
        files[f"{path}/autoscaling.yaml"] = autoscaling(env)
        resources.append("autoscaling.yaml")
    if env.nats_replicas > 1:
        patches.append(
            {
                "target": {"kind": "ConfigMap", "name": "nats-config"},
                "patch": yaml.safe_dump(
                    [
                        {
                            "op": "replace",
                            "path": "/data/nats.conf",
                            "value": nats_config(env.nats_replicas),
                        }
                    ]
                ),
            }
        )
        patches.append(
            {
                "target": {"kind": "StatefulSet", "name": "nats"},
                "patch": yaml.safe_dump(
                    [{"op": "replace", "path": "/spec/replicas", "value": env.nats_replicas}]
                ),
            }
        )

    environment = {
        "name": "mercato-environment",
        "literals": [
            f"MERCATO_ENV={env.name}",
            f"MERCATO_LOG_LEVEL={env.log_level}",
            f"MERCATO_S3_PUBLIC_ENDPOINT={env.s3_public_endpoint}",
            # JetStream keeps the events stream on as many NATS nodes as run.
            f"MERCATO_EVENT_STREAM_REPLICAS={env.nats_replicas}",
            # Read only where tracing is deployed (components/tracing sets the endpoint).
            *(f"{k}={v}" for k, v in tracing.sampler_env(env.trace_sample_ratio).items()),
        ],
    }
    config_maps: list[Obj] = [environment]
    if env.host:
        # The ALB appends the address it saw to X-Forwarded-For (mode pinned in ingress()):
        # the gateway takes that one entry, never what a client wrote (ADR 0025).
        config_maps.append(
            {
                "name": "gateway-config",
                "behavior": "merge",
                "literals": ["MERCATO_TRUSTED_PROXY_HOPS=1"],
            }
        )
    fields: Obj = {
        "namespace": env.namespace,
        "resources": resources,
        "components": components,
        "configMapGenerator": config_maps,
    }
    if not env.external_secrets:
        fields["secretGenerator"] = dev_secrets()
    if patches:
        fields["patches"] = patches
    if env.external_secrets or not env.in_cluster_database:
        fields["replacements"] = [
            {
                "source": {
                    "kind": "ConfigMap",
                    "name": "mercato-environment",
                    "fieldPath": "data.MERCATO_ENV",
                },
                "targets": [
                    {
                        "select": {"kind": "ExternalSecret"},
                        "fieldPaths": ["spec.dataFrom.0.extract.key"],
                        "options": {"delimiter": "/", "index": 1},
                    }
                ],
            }
        ]
    files[f"{path}/kustomization.yaml"] = kustomization(**fields)
    return files


def render(repo: Path) -> Files:
    """Every file under deploy/k8s."""
    files: Files = {}
    files.update(base())
    files.update(network_policies())
    files.update(monitoring(repo))
    files.update(tracing.component(ROOT))
    files.update(nats())
    files.update(minio())
    files.update(postgres())
    files.update(external_db())
    files.update(external_secrets())
    for env in ENVIRONMENTS.values():
        files.update(overlay(env, repo))
    return files
