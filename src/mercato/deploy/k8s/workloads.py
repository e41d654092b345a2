"""The base: per service its Deployment, Service, ServiceAccount, ConfigMap and migration Job."""

from __future__ import annotations

from mercato.deploy import model
from mercato.deploy.environments import Resources
from mercato.deploy.k8s.objects import (
    JOB_RESOURCES,
    NAME_LABEL,
    PART_OF,
    ROOT,
    TMP_MOUNT,
    TMP_VOLUME,
    Files,
    Obj,
    container_security,
    db_secret,
    http_probe,
    kustomization,
    labels,
    meta,
    pod_security,
    service_account,
    smtp_secret,
)
from mercato.deploy.model import Deployable


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
    if service.spec.smtp:
        # Last, so its MERCATO_SMTP_HOST/PORT win over the ConfigMap's in-cluster default.
        sources.append({"secretRef": {"name": smtp_secret(service)}})
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
