"""The ``dev``, ``stg`` and ``prod`` overlays: namespace, edge, scaling, images, object storage."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from mercato.deploy import model, tracing
from mercato.deploy.environments import Environment
from mercato.deploy.k8s import loadgenerator
from mercato.deploy.k8s.engines import nats_config
from mercato.deploy.k8s.objects import (
    NAME_LABEL,
    PART_OF,
    ROOT,
    SECRET_STORE,
    Files,
    Obj,
    component,
    kustomization,
    meta,
    network_policy,
    tcp,
)
from mercato.deploy.k8s.secrets import dev_secrets
from mercato.deploy.k8s.tracing import kubernetes_datasource
from mercato.deploy.k8s.workloads import env_from

INITIAL_TAG = "0.1.0"


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
    if not (env.host and env.certificate_arn):
        raise ValueError(f"{env.name} has no public host")
    rules = [(env.host, "gateway", model.CONTAINER_PORT)]
    if env.files_host:  # on AWS S3, browsers reach S3's own endpoint
        rules.append((env.files_host, "minio", model.ENGINE_PORTS["s3"]))
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
            "tls": [{"hosts": [host for host, _, _ in rules]}],
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
                    "maxReplicas": env.max_replicas_of(name),
                    "metrics": [
                        {
                            "type": "Resource",
                            "resource": {
                                "name": resource,
                                "target": {"type": "Utilization", "averageUtilization": target},
                            },
                        }
                        for resource, target in env.hpa_targets_of(name).items()
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


def image_names(env: Environment) -> list[str]:
    """The images the environment runs: every service's, and the load generator's if any."""
    names = [service.image for service in model.services()]
    if env.load_generator is not None:
        names.append(model.LOAD_GENERATOR_IMAGE)
    return names


def images_component(env: Environment, existing: dict[str, Obj]) -> Obj:
    """The environment's image names and tags; tags set by the release pipeline survive."""
    entries = []
    for image in image_names(env):
        current = existing.get(image, {})
        entries.append(
            {
                "name": image,
                "newName": current.get("newName", image),
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


def aws_object_storage(env: Environment) -> tuple[list[Obj], list[Obj], list[Obj]]:
    """Patches, objects and ConfigMap merges putting the services with buckets on AWS S3.

    Each such service's ServiceAccount names its IRSA role; EKS's pod identity webhook
    then gives its pods ``AWS_ROLE_ARN`` and a projected token, and the chassis trades
    the token at STS for temporary keys (ADR 0024). No static key reaches those pods:
    the ExternalSecret that would carry only S3 keys goes, and with it the secretRef.
    """
    patches: list[Obj] = []
    merges: list[Obj] = []
    objects: list[Obj] = []
    for service in model.with_engine("s3"):
        name = service.name
        patches.append(
            {
                "patch": yaml.safe_dump(
                    {
                        "apiVersion": "v1",
                        "kind": "ServiceAccount",
                        "metadata": {
                            "name": name,
                            "annotations": {"eks.amazonaws.com/role-arn": env.s3_role_arn(name)},
                        },
                    },
                    sort_keys=False,
                )
            }
        )
        if service.secret_env and not service.secret_env_for(web_identity=True):
            secret_ref = len(env_from(service)) - 1
            path = f"/spec/template/spec/containers/0/envFrom/{secret_ref}"
            without_secret = yaml.safe_dump(
                [
                    # Fails the build, rather than removing another source, if the order moves.
                    {"op": "test", "path": f"{path}/secretRef/name", "value": f"{name}-secrets"},
                    {"op": "remove", "path": path},
                ],
                sort_keys=False,
            )
            workloads = [("Deployment", name)]
            if service.spec.database:
                workloads.append(("Job", f"{name}-migrate"))
            for kind, workload in workloads:
                patches.append(
                    {"target": {"kind": kind, "name": workload}, "patch": without_secret}
                )
            patches.append(
                {
                    "patch": yaml.safe_dump(
                        {
                            "$patch": "delete",
                            "apiVersion": "external-secrets.io/v1",
                            "kind": "ExternalSecret",
                            "metadata": {"name": f"{name}-secrets"},
                        },
                        sort_keys=False,
                    )
                }
            )
        merges.append(
            {
                "name": f"{name}-config",
                "behavior": "merge",
                "literals": [
                    f"MERCATO_S3_ENDPOINT={env.s3_endpoint}",
                    f"MERCATO_S3_REGION={env.region}",
                    f"MERCATO_S3_BUCKET_PREFIX={env.bucket_prefix}",
                ],
            }
        )
        # S3 and STS answer on public AWS addresses (or a VPC endpoint's), over TLS only.
        objects.append(
            network_policy(
                f"{name}-object-storage",
                {NAME_LABEL: name},
                egress=[{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": tcp(443)}],
            )
        )
    # The prober checks AWS S3 here, not MinIO (an anonymous request is answered 4xx: up).
    for prober in (s for s in model.services() if s.spec.probes_all):
        probes = {**model.PROBED_ENGINES, "s3": env.s3_endpoint}
        merges.append(
            {
                "name": f"{prober.name}-config",
                "behavior": "merge",
                "literals": [f"MERCATO_ENGINE_PROBES={json.dumps(probes, sort_keys=True)}"],
            }
        )
        objects.append(
            network_policy(
                f"{prober.name}-object-storage",
                {NAME_LABEL: prober.name},
                egress=[{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": tcp(443)}],
            )
        )
    # No MinIO here, so no MinIO credentials either.
    patches.append(
        {
            "patch": yaml.safe_dump(
                {
                    "$patch": "delete",
                    "apiVersion": "external-secrets.io/v1",
                    "kind": "ExternalSecret",
                    "metadata": {"name": "minio-credentials"},
                },
                sort_keys=False,
            )
        }
    )
    return patches, objects, merges


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
    ]
    if not env.s3_on_aws:
        components.append("../../components/minio")
    if env.load_generator is not None:
        components.append("../../components/loadgenerator")
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
    files[f"{path}/grafana-datasources.yaml"] = [kubernetes_datasource(env.namespace)]
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
    config_maps += loadgenerator.overlay_merge(env)
    if env.s3_on_aws:
        storage_patches, storage_objects, storage_merges = aws_object_storage(env)
        patches += storage_patches
        config_maps += storage_merges
        files[f"{path}/object-storage.yaml"] = storage_objects
        resources.append("object-storage.yaml")
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
