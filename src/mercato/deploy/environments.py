"""The three Kubernetes environments and what differs between them."""

from __future__ import annotations

from dataclasses import dataclass, field

from mercato.deploy import model, sizing

BASELINE_REQUESTS = {"cpu": "125m", "memory": "128Mi"}
BASELINE_LIMITS = {"cpu": "250m", "memory": "256Mi"}


@dataclass(frozen=True)
class Resources:
    """Requests and limits of one container."""

    requests: dict[str, str] = field(default_factory=lambda: dict(BASELINE_REQUESTS))
    limits: dict[str, str] = field(default_factory=lambda: dict(BASELINE_LIMITS))

    def as_dict(self) -> dict[str, dict[str, str]]:
        """The ``resources`` block of a container."""
        return {"requests": dict(self.requests), "limits": dict(self.limits)}


@dataclass(frozen=True)
class LoadGenerator:
    """The shoppers the loadgenerator component keeps on the shop (``mercato load``)."""

    users: int = 10
    spawn_rate: float = 1.0
    # One run, then the container exits and Kubernetes starts the next one (new customers).
    run_time: str = "30m"

    def config(self) -> dict[str, str]:
        """The component's ConfigMap entries."""
        return {
            "MERCATO_LOAD_USERS": str(self.users),
            "MERCATO_LOAD_SPAWN_RATE": f"{self.spawn_rate:g}",
            "MERCATO_LOAD_RUN_TIME": self.run_time,
        }


@dataclass(frozen=True)
class Environment:
    """One overlay: namespace, replicas, where secrets and databases come from, the edge."""

    name: str
    replicas: int
    # Services given more replicas than ``replicas`` (stg keeps the edge redundant).
    replicas_for: dict[str, int] = field(default_factory=dict)
    in_cluster_database: bool = True
    external_secrets: bool = False
    autoscaling: bool = False
    max_replicas: int = 1
    nats_replicas: int = 1
    host: str | None = None
    files_host: str | None = None
    # Set these for your account (docs/deploy.md, step 6), then `mercato render all`.
    certificate_arn: str | None = None
    region: str = "eu-central-1"
    account_id: str = "000000000000"
    # Object storage: "minio" (in the cluster, a static key from the environment's
    # secrets) or "aws" (AWS S3, buckets and one IRSA role per service from Terraform,
    # no static key; docs/adr/0024).
    object_storage: str = "minio"
    # Real bucket names start with this; None: mercato-<env>- on AWS (names are global:
    # change it if they are taken), the settings' default on MinIO.
    s3_bucket_prefix: str | None = None
    # Per-service resources that differ from the baseline (docs/adr/0012).
    resources: dict[str, Resources] = field(default_factory=dict)
    # Per-service HPA targets and maxReplicas where autoscaling is on (docs/adr/0040);
    # a service without one scales 70 % CPU / 80 % memory up to ``max_replicas``.
    scaling: dict[str, sizing.Sizing] = field(default_factory=dict)
    log_level: str = "info"
    # Share of traces kept, drawn once at the edge (docs/adr/0021: full tracing costs
    # ~40 % more CPU per request than metrics alone, 10 % sampling ~10 %).
    trace_sample_ratio: float = 1.0
    # Shoppers run by the loadgenerator component; None: no load generator (prod).
    load_generator: LoadGenerator | None = None

    @property
    def namespace(self) -> str:
        """The environment's namespace."""
        return f"mercato-{self.name}"

    def replicas_of(self, service: str) -> int:
        """Replicas of ``service`` (the HPA's minimum where autoscaling is on)."""
        return self.replicas_for.get(service, self.replicas)

    def max_replicas_of(self, service: str) -> int:
        """The HPA's maximum for ``service``."""
        if service in self.scaling:
            return self.scaling[service].max_replicas
        return self.max_replicas

    def hpa_targets_of(self, service: str) -> dict[str, int]:
        """The HPA's average utilisation targets (% of the requests) for ``service``."""
        if service in self.scaling:
            scaling = self.scaling[service]
            return {"cpu": scaling.cpu_target, "memory": scaling.memory_target}
        return {"cpu": 70, "memory": 80}

    @property
    def s3_on_aws(self) -> bool:
        """True when the services use AWS S3 through IRSA roles instead of MinIO."""
        return self.object_storage == "aws"

    @property
    def s3_endpoint(self) -> str:
        """Where the services reach object storage."""
        if self.s3_on_aws:
            return f"https://s3.{self.region}.amazonaws.com"
        return f"http://minio:{model.ENGINE_PORTS['s3']}"

    @property
    def s3_public_endpoint(self) -> str:
        """Where browsers reach object storage for presigned URLs."""
        if self.s3_on_aws:
            return self.s3_endpoint
        return f"https://{self.files_host}" if self.files_host else "http://localhost:9000"

    @property
    def bucket_prefix(self) -> str:
        """Prefix of the real bucket names (AWS's are global: they name the environment)."""
        if self.s3_bucket_prefix is not None:
            return self.s3_bucket_prefix
        return f"mercato-{self.name}-" if self.s3_on_aws else model.BUCKET_PREFIX

    def buckets_of(self, service: model.Deployable) -> list[str]:
        """The real names of a service's buckets here."""
        return [self.bucket_prefix + b for b in service.spec.buckets]

    def s3_role_arn(self, service: str) -> str:
        """The IRSA role a service's pods assume for S3 (terraform/modules/object-storage)."""
        return f"arn:aws:iam::{self.account_id}:role/mercato-{self.name}-{service}"


# Sized from what one seed replica (250m / 256 MiB) sustains per route family at
# p99 <= 250 ms (bench/budget.py) and a traffic model of N checkouts/s: requests are the
# steady CPU at the expected load, limits twice that (at least 250m), memory limits twice
# the peak RSS; docs/deploy.md "Sizing", docs/adr/0040.
PROD_RESOURCES = {
    service: Resources(requests=scaled.requests, limits=scaled.limits)
    for service, scaled in sizing.SIZING.items()
}

ENVIRONMENTS: dict[str, Environment] = {
    "dev": Environment(name="dev", replicas=1, log_level="debug", load_generator=LoadGenerator()),
    "stg": Environment(
        name="stg",
        replicas=1,
        replicas_for={"gateway": 2, "auth": 2},
        in_cluster_database=False,
        external_secrets=True,
        host="stg.shop.example.com",
        files_host="files.stg.shop.example.com",
        certificate_arn="arn:aws:acm:eu-central-1:000000000000:certificate/mercato-stg",
        load_generator=LoadGenerator(),
    ),
    "prod": Environment(
        name="prod",
        replicas=2,
        in_cluster_database=False,
        external_secrets=True,
        autoscaling=True,
        max_replicas=6,
        nats_replicas=3,
        host="shop.example.com",
        certificate_arn="arn:aws:acm:eu-central-1:000000000000:certificate/mercato-prod",
        object_storage="aws",
        resources=PROD_RESOURCES,
        scaling=sizing.SIZING,
        trace_sample_ratio=0.1,
    ),
}
