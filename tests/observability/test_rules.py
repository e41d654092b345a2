"""Rules and scrape configs: promtool checks, promtool unit tests of every alert, runbooks,
and the PrometheusRule objects of kube-prometheus-stack equal to the rule files."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from mercato.deploy import render as deploy_render
from mercato.observability import render, rules, scrape
from tests.observability.alert_cases import CASES, Case
from tests.observability.conftest import REPO

RULE_FILES = sorted((REPO / render.RULES_DIR).glob("*.yml"))
RUNBOOKS = REPO / "docs" / "runbooks"
LABEL_TEMPLATE = re.compile(r"\{\{ \$labels\.(\w+) \}\}")


def promtool_run(promtool: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool, *args], capture_output=True, text=True, timeout=300, check=False
    )


def rule_file_alerts() -> dict[str, dict[str, Any]]:
    """Every alert rule of the committed rule files, by name."""
    found = {}
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    found[rule["alert"]] = rule
    return found


def test_committed_monitoring_files_are_the_generator_output() -> None:
    problems = deploy_render.differences(REPO, ("monitoring",))
    assert problems == [], "run `mercato render all` and commit the result:\n" + "\n".join(problems)


def test_rule_files_pass_promtool_check_rules(promtool: str) -> None:
    assert [p.name for p in RULE_FILES] == ["alerts.yml", "recording.yml"]
    result = promtool_run(promtool, "check", "rules", *map(str, RULE_FILES))
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_and_local_configs_pass_promtool_check_config(
    promtool: str, tmp_path: Path
) -> None:
    compose = REPO / "deploy/compose/prometheus/prometheus.yml"
    local = tmp_path / "local.yml"
    targets = tmp_path / "targets.json"
    targets.write_text("[]")
    local.write_text(
        yaml.safe_dump(
            scrape.local_config(
                rules_dir=str(REPO / render.RULES_DIR),
                targets_file=str(targets),
                engine_targets=[("seaweedfs", "127.0.0.1:19327")],
                own_address="127.0.0.1:19090",
            )
        )
    )
    for config in (compose, local):
        result = promtool_run(promtool, "check", "config", str(config))
        assert result.returncode == 0, f"{config}:\n{result.stdout}{result.stderr}"
    assert (
        "SUCCESS: 2 rule files found"
        in promtool_run(promtool, "check", "config", str(local)).stdout
    )


def test_kubernetes_config_passes_promtool_check_config(promtool: str, tmp_path: Path) -> None:
    """Debian builds Prometheus without Kubernetes discovery, so promtool cannot read
    ``kubernetes_sd_configs``: those blocks are checked here against the upstream fields,
    then swapped for static targets so promtool checks everything else (relabelling,
    auth, TLS, the rule files)."""
    config = yaml.safe_load((REPO / render.KUBERNETES_CONFIG).read_text())
    for job in config["scrape_configs"]:
        for sd in job.pop("kubernetes_sd_configs", []):
            assert set(sd) <= {"role", "namespaces"}
            assert sd["role"] in {"pod", "node", "service", "endpoints", "endpointslice"}
            assert set(sd.get("namespaces", {})) <= {"names", "own_namespace"}
            job["static_configs"] = [{"targets": ["127.0.0.1:8080"]}]
    namespaces = [
        job["kubernetes_sd_configs"][0]["namespaces"]["names"]
        for job in yaml.safe_load((REPO / render.KUBERNETES_CONFIG).read_text())["scrape_configs"]
        if job["job_name"].endswith("-pods")
    ]
    assert namespaces == [["mercato-dev"], ["mercato-stg"], ["mercato-prod"]]
    # Point the rule files at the committed ones, and the credentials at files that exist.
    config["rule_files"] = [str(REPO / render.RULES_DIR / "*.yml")]
    token = tmp_path / "token"
    token.write_text("t")
    for job in config["scrape_configs"]:
        if "authorization" in job:
            job["authorization"]["credentials_file"] = str(token)
            job["tls_config"]["ca_file"] = str(token)
    checked = tmp_path / "prometheus.yml"
    checked.write_text(yaml.safe_dump(config))
    result = promtool_run(promtool, "check", "config", str(checked))
    assert result.returncode == 0, result.stdout + result.stderr


def expected_annotations(rule: dict[str, Any], labels: dict[str, str]) -> dict[str, str]:
    """The rule's annotations with ``{{ $labels.x }}`` filled in."""
    return {
        key: LABEL_TEMPLATE.sub(lambda m: labels.get(m.group(1), ""), text)
        for key, text in rule["annotations"].items()
    }


def unit_test(case: Case, *, firing: bool, rule: dict[str, Any]) -> dict[str, Any]:
    series = case.firing if firing else case.healthy
    labels = {**case.labels, **rule["labels"]}
    expected = (
        [{"exp_labels": labels, "exp_annotations": expected_annotations(rule, labels)}]
        if firing
        else []
    )
    return {
        "name": f"{case.alert} {'fires' if firing else 'stays silent'}",
        "interval": "1m",
        "input_series": [{"series": s, "values": v} for s, v in series.items()],
        "alert_rule_test": [
            {"eval_time": case.eval_time, "alertname": case.alert, "exp_alerts": expected}
        ],
    }


def test_every_alert_has_a_firing_and_a_healthy_case() -> None:
    assert [c.alert for c in CASES] == [a.name for a in rules.alerts()]
    assert set(rule_file_alerts()) == {c.alert for c in CASES}


@pytest.mark.parametrize("case", CASES, ids=[c.alert for c in CASES])
def test_alert_fires_on_crafted_series_and_stays_silent_on_healthy_ones(
    promtool: str, tmp_path: Path, case: Case
) -> None:
    rule = rule_file_alerts()[case.alert]
    tests = {
        "rule_files": [str(p) for p in RULE_FILES],
        "evaluation_interval": "1m",
        "tests": [
            unit_test(case, firing=True, rule=rule),
            unit_test(case, firing=False, rule=rule),
        ],
    }
    path = tmp_path / "tests.yml"
    path.write_text(yaml.safe_dump(tests, sort_keys=False))
    result = promtool_run(promtool, "test", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_severity_summary_description_and_a_runbook() -> None:
    for name, rule in rule_file_alerts().items():
        assert rule["labels"]["severity"] in {"critical", "warning"}, name
        assert {"summary", "description", "runbook_url"} <= set(rule["annotations"]), name
        url = rule["annotations"]["runbook_url"]
        assert url == f"{rules.RUNBOOK_BASE}{name}.md"
        runbook = RUNBOOKS / url.removeprefix(rules.RUNBOOK_BASE)
        assert runbook.is_file(), f"{name}: no runbook at {runbook.relative_to(REPO)}"
        text = runbook.read_text()
        assert text.startswith(f"# {name}\n"), runbook
        for section in ("## What it means", "## How to confirm", "## How to mitigate"):
            assert section in text, f"{runbook.name} lacks '{section}'"
    listed = {p.stem for p in RUNBOOKS.glob("*.md")} - {"README"}
    assert listed == set(rule_file_alerts()), "a runbook without its alert, or the reverse"


def test_prometheus_rules_for_kube_prometheus_stack_are_the_rule_files() -> None:
    """One source: the PrometheusRule objects carry exactly the groups of the rule files."""
    component = REPO / "deploy/k8s/components/monitoring"
    objects = list(yaml.safe_load_all((component / "prometheusrules.yaml").read_text()))
    by_name = {o["metadata"]["name"]: o for o in objects}
    assert set(by_name) == {f"mercato-{p.stem}" for p in RULE_FILES}
    for path in RULE_FILES:
        rule_object = by_name[f"mercato-{path.stem}"]
        assert rule_object["kind"] == "PrometheusRule"
        assert rule_object["metadata"]["labels"]["release"] == "kube-prometheus-stack"
        assert rule_object["spec"]["groups"] == yaml.safe_load(path.read_text())["groups"]
    assert "prometheusrules.yaml" in (component / "kustomization.yaml").read_text()
