"""GitHub workflows validate against their schema; Argo CD follows the environments."""

from __future__ import annotations

from typing import Any

import yaml

from mercato.deploy.environments import ENVIRONMENTS
from tests.deploy import tools
from tests.deploy.conftest import REPO

WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))


def test_workflows_validate_against_the_github_schema() -> None:
    assert {w.name for w in WORKFLOWS} >= {"ci.yml", "release.yml", "promote.yml"}
    result = tools.run(
        [
            tools.venv_tool("check-jsonschema"),
            "--builtin-schema",
            "vendor.github-workflows",
            *map(str, WORKFLOWS),
        ]
    )
    assert result.returncode == 0, result.stdout + result.stderr


def workflow(name: str) -> dict[Any, Any]:
    """A workflow, parsed (YAML reads the `on` key as True)."""
    return yaml.safe_load((REPO / ".github" / "workflows" / name).read_text())


def test_release_pushes_with_oidc_only_and_bumps_dev() -> None:
    release = workflow("release.yml")
    text = (REPO / ".github" / "workflows" / "release.yml").read_text()
    assert release[True]["push"]["branches"] == ["main"]
    image = release["jobs"]["image"]
    assert image["permissions"]["id-token"] == "write"
    assert "aws-access-key-id" not in text
    assert "AWS_SECRET_ACCESS_KEY" not in text
    assert "catalog.names()" in text  # the image matrix is the catalog
    assert "%Y%m%d-%H%M%S" in text
    assert "cosign sign" in text
    assert "sbom" in text
    assert "set-image --env dev" in text


def test_promote_copies_tags_behind_an_environment_approval() -> None:
    promote = workflow("promote.yml")
    job = promote["jobs"]["promote"]
    assert job["environment"] == "${{ inputs.target }}"
    assert promote[True]["workflow_dispatch"]["inputs"]["target"]["options"] == ["stg", "prod"]


def test_applicationset_syncs_dev_automatically_and_prod_by_hand() -> None:
    appset = yaml.safe_load((REPO / "deploy" / "argocd" / "applicationset.yaml").read_text())
    elements = {e["env"]: e for e in appset["spec"]["generators"][0]["list"]["elements"]}
    assert set(elements) == set(ENVIRONMENTS)
    assert elements["dev"]["autoSync"] is True
    assert elements["prod"]["autoSync"] is False
    assert "automated" in appset["spec"]["templatePatch"]
    assert appset["spec"]["template"]["spec"]["source"]["path"] == "deploy/k8s/overlays/{{ .env }}"
