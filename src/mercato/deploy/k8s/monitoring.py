"""The ``monitoring`` component: ServiceMonitors, and deploy/monitoring's rules and dashboards."""

from __future__ import annotations

from pathlib import Path

import yaml

from mercato.deploy import model
from mercato.deploy.k8s.objects import (
    COMPONENT_LABEL,
    NAME_LABEL,
    PROMETHEUS_RELEASE,
    ROOT,
    Files,
    component,
    labels,
    meta,
)


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
