"""The ``loadgenerator`` component: ``mercato load`` (Locust, headless) against the gateway.

As Online Boutique's loadgenerator: optional, included by the overlays whose environment
names a :class:`~mercato.deploy.environments.LoadGenerator` (dev and stg), never by prod.
Each run lasts the configured run time; then the container exits and Kubernetes starts
the next run, with new customers. Shoppers, spawn rate and run time come from the
``loadgenerator-config`` ConfigMap (an overlay merges its environment's values).
"""

from __future__ import annotations

from mercato.deploy import model
from mercato.deploy.environments import Environment, LoadGenerator, Resources
from mercato.deploy.k8s.objects import (
    NAME_LABEL,
    ROOT,
    Files,
    Obj,
    component,
    container_security,
    labels,
    meta,
    network_policy,
    peer,
    pod_security,
    service_account,
    tcp,
)

NAME = model.LOAD_GENERATOR
CONFIG = f"{NAME}-config"
PATH = f"{ROOT}/components/{NAME}"
GATEWAY_URL = f"http://gateway:{model.CONTAINER_PORT}"
DATA_DIR = "/tmp/mercato"  # noqa: S108 (the pod's one writable volume)
# Online Boutique's loadgenerator asks the same; Locust's gevent loop uses one core at most.
RESOURCES = Resources(
    requests={"cpu": "300m", "memory": "256Mi"}, limits={"cpu": "500m", "memory": "512Mi"}
)
# Locust rewrites its stats CSV every second and flushes it every ten: a run whose file
# has not changed for a minute is stuck.
PRODUCING = f"find {DATA_DIR}/load -name locust_stats.csv -mmin -1 | grep -q ."
# The previous run's report goes first: the volume holds one run's CSV history (~10 MiB
# for 30 minutes), not every run since the pod started.
COMMAND = (
    f"rm -rf {DATA_DIR}/load && exec mercato load --data-dir {DATA_DIR}"
    ' --host "$MERCATO_LOAD_HOST" --users "$MERCATO_LOAD_USERS"'
    ' --spawn-rate "$MERCATO_LOAD_SPAWN_RATE" --run-time "$MERCATO_LOAD_RUN_TIME"'
)


def config(load: LoadGenerator) -> dict[str, str]:
    """The ConfigMap's entries for ``load``."""
    return {"MERCATO_LOAD_HOST": GATEWAY_URL, **load.config()}


def overlay_merge(env: Environment) -> list[Obj]:
    """The overlay's merge into the ConfigMap when its shoppers differ from the defaults."""
    if env.load_generator is None or env.load_generator == LoadGenerator():
        return []
    literals = [f"{k}={v}" for k, v in env.load_generator.config().items()]
    return [{"name": CONFIG, "behavior": "merge", "literals": literals}]


def _probe(**timing: int) -> Obj:
    return {"exec": {"command": ["/bin/sh", "-c", PRODUCING]}, **timing}


def deployment() -> Obj:
    """One pod running ``mercato load``, hardened as the services are."""
    container = {
        "name": NAME,
        "image": model.LOAD_GENERATOR_IMAGE,
        "imagePullPolicy": "IfNotPresent",
        "command": ["/bin/sh", "-c", COMMAND],
        "envFrom": [{"configMapRef": {"name": CONFIG}}],
        # Registering the run's customers comes first; the stats file follows.
        "startupProbe": _probe(periodSeconds=10, timeoutSeconds=5, failureThreshold=30),
        "livenessProbe": _probe(periodSeconds=30, timeoutSeconds=5, failureThreshold=3),
        "readinessProbe": _probe(periodSeconds=15, timeoutSeconds=5, failureThreshold=2),
        "resources": RESOURCES.as_dict(),
        "securityContext": container_security(),
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],  # noqa: S108
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        # After the services (wave 2): the shoppers need a gateway to shop at.
        "metadata": meta(NAME, NAME, annotations={"argocd.argoproj.io/sync-wave": "3"}),
        "spec": {
            "replicas": 1,
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": {NAME_LABEL: NAME}},
            "template": {
                "metadata": {"labels": labels(NAME, NAME)},
                "spec": {
                    "serviceAccountName": NAME,
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "securityContext": pod_security(),
                    "containers": [container],
                    "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "128Mi"}}],
                },
            },
        },
    }


def loadgenerator() -> Files:
    """The component: ServiceAccount, Deployment, ConfigMap and its NetworkPolicy."""
    objects = [
        service_account(NAME, NAME),
        deployment(),
        # The shoppers reach the gateway only (DNS comes from allow-dns); nothing reaches them.
        network_policy(
            NAME,
            {NAME_LABEL: NAME},
            ingress=[],
            egress=[{"to": [peer("gateway")], "ports": tcp(model.CONTAINER_PORT)}],
        ),
    ]
    literals = [f"{k}={v}" for k, v in config(LoadGenerator()).items()]
    return {
        f"{PATH}/{NAME}.yaml": objects,
        f"{PATH}/kustomization.yaml": component(
            resources=[f"{NAME}.yaml"],
            configMapGenerator=[
                {"name": CONFIG, "literals": literals, "options": {"labels": labels(CONFIG, NAME)}}
            ],
        ),
    }
