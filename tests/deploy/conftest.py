"""Fixtures of the deployment checks: built overlays and one checkov run per session."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy import tools

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"
ENVIRONMENTS = ("dev", "stg", "prod")
COMPONENTS = sorted(p.name for p in (K8S / "components").iterdir() if p.is_dir())


def kustomize(path: Path) -> list[dict[str, Any]]:
    """``kubectl kustomize`` of a directory, as objects."""
    result = tools.run([tools.venv_tool("kubectl"), "kustomize", str(path)])
    assert result.returncode == 0, f"kubectl kustomize {path} failed:\n{result.stderr}"
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture(scope="session")
def overlays() -> dict[str, list[dict[str, Any]]]:
    """Every overlay, built."""
    return {env: kustomize(K8S / "overlays" / env) for env in ENVIRONMENTS}


@pytest.fixture(scope="session")
def checkov_report(
    overlays: dict[str, list[dict[str, Any]]], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """One checkov run over the built overlays, the Dockerfile, Terraform and the workflows."""
    work = tmp_path_factory.mktemp("checkov")
    manifests = work / "manifests"
    manifests.mkdir()
    for env, objects in overlays.items():
        (manifests / f"{env}.yaml").write_text(yaml.safe_dump_all(objects, sort_keys=False))
    docker = work / "docker"
    docker.mkdir()
    shutil.copy(REPO / "deploy" / "docker" / "Dockerfile", docker / "Dockerfile")
    terraform = work / "terraform"
    shutil.copytree(
        REPO / "deploy" / "terraform", terraform, ignore=shutil.ignore_patterns(".terraform*")
    )
    result = tools.run(
        [
            tools.checkov(),
            "--config-file",
            str(REPO / "deploy" / "checkov.yaml"),
            "--skip-download",
            "--quiet",
            "--compact",
            "--output",
            "json",
            "--framework",
            "kubernetes",
            "terraform",
            "dockerfile",
            "github_actions",
            "--directory",
            str(manifests),
            "--directory",
            str(terraform),
            "--directory",
            str(REPO / ".github" / "workflows"),
            "--directory",
            str(docker),
        ],
        cwd=work,
        BC_SKIP_MAPPING="TRUE",
    )
    reports = json_values(result.stdout)
    if not reports:
        pytest.fail(
            f"checkov did not report (exit {result.returncode}):\n"
            f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
    return merge_reports(reports)


def json_values(text: str) -> list[dict[str, Any]]:
    """Every report in checkov's output (it may print several JSON values in a row)."""
    decoder = json.JSONDecoder()
    values: list[dict[str, Any]] = []
    position = 0
    while True:
        starts = [i for i in (text.find("{", position), text.find("[", position)) if i >= 0]
        if not starts:
            return values
        value, position = decoder.raw_decode(text, min(starts))
        values.extend(value if isinstance(value, list) else [value])


def merge_reports(reports: list[dict[str, Any]]) -> dict[str, Any]:
    """One report per framework: failed and skipped checks together, passed counts summed."""
    merged: dict[str, Any] = {}
    for report in reports:
        framework = report.get("check_type")
        if framework is None:
            continue
        target = merged.setdefault(
            framework, {"results": {"failed_checks": [], "skipped_checks": []}, "passed": 0}
        )
        results = report.get("results", {})
        target["results"]["failed_checks"] += results.get("failed_checks", [])
        target["results"]["skipped_checks"] += results.get("skipped_checks", [])
        target["passed"] += report.get("summary", {}).get("passed", 0)
    return merged
