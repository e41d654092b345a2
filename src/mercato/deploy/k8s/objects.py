"""The vocabulary every part of ``deploy/k8s`` is written in: names, labels, hardened
containers and pods, probes, policies, engine workloads, Kustomize files.

Every builder returns ``{relative path: content}`` (``Files``) or Kubernetes objects
(``Obj``); a list of objects is written as one multi-document YAML file.
"""

from __future__ import annotations

from typing import Any

from mercato.deploy import model
from mercato.deploy.environments import Resources
from mercato.deploy.model import Deployable

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

ENGINE_RESOURCES = Resources(
    requests={"cpu": "100m", "memory": "128Mi"}, limits={"cpu": "500m", "memory": "512Mi"}
)
JOB_RESOURCES = Resources(
    requests={"cpu": "50m", "memory": "64Mi"}, limits={"cpu": "250m", "memory": "256Mi"}
)


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


def smtp_secret(service: Deployable) -> str:
    """Secret of a mail-sending service's SMTP relay: MERCATO_SMTP_HOST, _PORT, _USERNAME and
    _PASSWORD (stg, prod: from Secrets Manager; dev: credentials only, the host from config)."""
    return f"{service.name}-smtp"


def database_engine_peer(service: Deployable) -> Obj:
    """Where the service's in-cluster database pods are."""
    return {"podSelector": {"matchLabels": {"cnpg.io/cluster": db_cluster(service)}}}


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
