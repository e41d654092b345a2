"""Kustomize base, components and overlays under ``deploy/k8s``, derived from the catalog.

One module per thing built: ``workloads`` (the base), ``network_policies``,
``monitoring``, ``tracing``, ``engines`` (NATS, MinIO, CloudNativePG), ``secrets``
(External Secrets, RDS), ``loadgenerator`` (``mercato load``, dev and stg) and
``overlays``; ``objects`` is the vocabulary they share.
"""

from __future__ import annotations

from pathlib import Path

from mercato.deploy.environments import ENVIRONMENTS
from mercato.deploy.k8s import (
    engines,
    loadgenerator,
    monitoring,
    network_policies,
    overlays,
    secrets,
    tracing,
)
from mercato.deploy.k8s.objects import Files
from mercato.deploy.k8s.workloads import base


def render(repo: Path) -> Files:
    """Every file under deploy/k8s."""
    files: Files = {}
    files.update(base())
    files.update(network_policies.network_policies())
    files.update(monitoring.monitoring(repo))
    files.update(tracing.collector_and_tempo())
    files.update(engines.nats())
    files.update(engines.minio())
    files.update(engines.postgres())
    files.update(secrets.external_db())
    files.update(secrets.external_secrets())
    files.update(loadgenerator.loadgenerator())
    for env in ENVIRONMENTS.values():
        files.update(overlays.overlay(env, repo))
    return files
