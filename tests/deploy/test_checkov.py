"""checkov over the built overlays, the Dockerfile, Terraform and the workflows: clean,
with every skipped check named in deploy/checkov.yaml or inline, each with its reason."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.deploy.conftest import REPO

FRAMEWORKS = ("kubernetes", "terraform", "dockerfile", "github_actions")
# The first run on a machine installs checkov into its own venv before scanning.
pytestmark = pytest.mark.timeout(1200)


def failures(report: dict[str, Any]) -> list[str]:
    """One line per failed check."""
    return [
        f"{c['check_id']} {c['check_name']} :: {c['resource']} ({c.get('file_path')})"
        for c in report["results"]["failed_checks"]
    ]


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_checkov_passes(framework: str, checkov_report: dict[str, Any]) -> None:
    report = checkov_report[framework]
    assert report["passed"] > 0
    assert failures(report) == []


def test_every_skip_has_a_reason(checkov_report: dict[str, Any]) -> None:
    configured = set(yaml.safe_load((REPO / "deploy" / "checkov.yaml").read_text())["skip-check"])
    config_text = (REPO / "deploy" / "checkov.yaml").read_text()
    for check in configured:
        # The comment block above each entry gives its reason.
        before = config_text.split(f"- {check}")[0].rstrip().splitlines()[-1]
        assert before.strip().startswith("#"), check
    for report in checkov_report.values():
        for skipped in report["results"]["skipped_checks"]:
            if skipped["check_id"] in configured:
                continue
            reason = (skipped.get("check_result") or {}).get("suppress_comment", "")
            assert len(reason.strip()) > 10, f"inline skip of {skipped['check_id']} has no reason"
