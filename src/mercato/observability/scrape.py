"""Prometheus scrape configurations: plain Kubernetes, and the local runner's.

Every Mercato target carries ``job`` and ``service`` = the catalog name, and is scraped
with ``honor_labels``: the chassis already labels each series with its service, so the
target's label only fills in the series that lack it (``process_*``, ``up``), and no
``exported_service`` copies appear. The same holds for compose and for the
ServiceMonitors of kube-prometheus-stack (see mercato.deploy).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from mercato.deploy.environments import ENVIRONMENTS

LOCAL_SCRAPE_INTERVAL = "5s"  # the runner is a development box: quick feedback, few series
CLUSTER_SCRAPE_INTERVAL = "30s"
POD_IP_AND_PORT = r"(.+);(\d+)"


def kubernetes_config() -> dict[str, Any]:
    """prometheus.yml for a plain Prometheus inside the cluster (no operator).

    One job per environment namespace finds the pods annotated ``prometheus.io/scrape``
    and scrapes ``prometheus.io/port`` and ``prometheus.io/path``; cAdvisor (through the
    API server) and kube-state-metrics feed the container alerts.
    """
    jobs = [_annotated_pods(env.namespace) for env in ENVIRONMENTS.values()]
    jobs += [
        {
            "job_name": "kubernetes-cadvisor",
            "scheme": "https",
            "metrics_path": "/metrics/cadvisor",
            "authorization": {
                "credentials_file": "/var/run/secrets/kubernetes.io/serviceaccount/token"
            },
            "tls_config": {"ca_file": "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"},
            "kubernetes_sd_configs": [{"role": "node"}],
            "relabel_configs": [
                {"target_label": "__address__", "replacement": "kubernetes.default.svc:443"},
                {
                    "source_labels": ["__meta_kubernetes_node_name"],
                    "regex": "(.+)",
                    "target_label": "__metrics_path__",
                    "replacement": "/api/v1/nodes/$1/proxy/metrics/cadvisor",
                },
            ],
        },
        {
            # kube-state-metrics speaks for objects, not itself: keep the labels it sets.
            "job_name": "kube-state-metrics",
            "honor_labels": True,
            "static_configs": [
                {"targets": ["kube-state-metrics.kube-system.svc.cluster.local:8080"]}
            ],
        },
    ]
    return {
        "global": {
            "scrape_interval": CLUSTER_SCRAPE_INTERVAL,
            "evaluation_interval": CLUSTER_SCRAPE_INTERVAL,
        },
        "rule_files": ["/etc/prometheus/rules/*.yml"],
        "scrape_configs": jobs,
    }


def _annotated_pods(namespace: str) -> dict[str, Any]:
    meta = "__meta_kubernetes_pod_"
    return {
        "job_name": f"{namespace}-pods",
        "honor_labels": True,
        "kubernetes_sd_configs": [{"role": "pod", "namespaces": {"names": [namespace]}}],
        "relabel_configs": [
            {
                "source_labels": [f"{meta}annotation_prometheus_io_scrape"],
                "action": "keep",
                "regex": "true",
            },
            {"source_labels": [f"{meta}phase"], "action": "drop", "regex": "Succeeded|Failed"},
            {
                "source_labels": [f"{meta}annotation_prometheus_io_path"],
                "regex": "(.+)",
                "target_label": "__metrics_path__",
            },
            {
                "source_labels": [f"{meta}ip", f"{meta}annotation_prometheus_io_port"],
                "regex": POD_IP_AND_PORT,
                "replacement": "$1:$2",
                "target_label": "__address__",
            },
            {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
            {"source_labels": [f"{meta}name"], "target_label": "pod"},
            {"source_labels": [f"{meta}container_name"], "target_label": "container"},
            {"source_labels": [f"{meta}label_app_kubernetes_io_name"], "target_label": "service"},
            {"source_labels": [f"{meta}label_app_kubernetes_io_name"], "target_label": "job"},
        ],
    }


def service_targets(ports: Mapping[str, int], host: str = "127.0.0.1") -> list[dict[str, Any]]:
    """The file_sd target list of the local runner: one group per running service."""
    return [
        {"targets": [f"{host}:{port}"], "labels": {"job": name, "service": name}}
        for name, port in ports.items()
    ]


def local_config(
    *,
    rules_dir: str,
    targets_file: str,
    engine_targets: Iterable[tuple[str, str]] = (),
    own_address: str | None = None,
) -> dict[str, Any]:
    """prometheus.yml of ``mercato up --monitoring``: services from a file, engines, itself."""
    jobs: list[dict[str, Any]] = [
        {
            "job_name": "mercato",
            "honor_labels": True,
            "file_sd_configs": [{"files": [targets_file], "refresh_interval": "10s"}],
        }
    ]
    for name, address in engine_targets:
        jobs.append({"job_name": name, "static_configs": [{"targets": [address]}]})
    if own_address:
        jobs.append({"job_name": "prometheus", "static_configs": [{"targets": [own_address]}]})
    return {
        "global": {
            "scrape_interval": LOCAL_SCRAPE_INTERVAL,
            "evaluation_interval": LOCAL_SCRAPE_INTERVAL,
        },
        "rule_files": [f"{rules_dir}/*.yml"],
        "scrape_configs": jobs,
    }
