"""The in-cluster engine components: ``nats``, ``minio`` and ``postgres`` (CloudNativePG)."""

from __future__ import annotations

from mercato.deploy import model
from mercato.deploy.k8s.objects import (
    ENGINE_RESOURCES,
    JOB_RESOURCES,
    MONITORING_NAMESPACE,
    NAME_LABEL,
    ROOT,
    TMP_MOUNT,
    TMP_VOLUME,
    Files,
    component,
    database_engine_peer,
    db_cluster,
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
                model.NATS_IMAGE,
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
                model.MINIO_IMAGE,
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
                                model.MC_IMAGE,
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
                    "imageName": model.POSTGRES_IMAGE,
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
