"""Terraform: formatted, and every root validates against the real AWS provider schema."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.deploy import tools
from tests.deploy.conftest import REPO

TERRAFORM = REPO / "deploy" / "terraform"
ROOTS = sorted(p.name for p in (TERRAFORM / "roots").iterdir() if p.is_dir())
QUIET = {"TF_CLI_CONFIG_FILE": "/dev/null", "TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1"}


def test_terraform_fmt_check() -> None:
    result = tools.run(
        [tools.terraform(), "fmt", "-check", "-recursive", "-diff", str(TERRAFORM)], **QUIET
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_roots_exist_per_environment() -> None:
    assert set(ROOTS) == {"bootstrap", "shared", "dev", "stg", "prod"}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of deploy/terraform, so init writes nothing into the repository."""
    target = tmp_path_factory.mktemp("terraform") / "terraform"
    shutil.copytree(TERRAFORM, target, ignore=shutil.ignore_patterns(".terraform*"))
    return target


@pytest.mark.parametrize("root", ROOTS)
def test_root_validates_offline(root: str, workspace: Path) -> None:
    """`terraform validate` with the provider from a local mirror (no registry here)."""
    directory = workspace / "roots" / root
    env = {**QUIET, "TF_DATA_DIR": str(directory / ".terraform")}
    init = tools.run(
        [
            tools.terraform(),
            "init",
            "-backend=false",
            "-input=false",
            "-no-color",
            f"-plugin-dir={tools.terraform_plugin_dir()}",
        ],
        cwd=directory,
        **env,
    )
    assert init.returncode == 0, init.stdout + init.stderr
    validate = tools.run([tools.terraform(), "validate", "-no-color"], cwd=directory, **env)
    assert validate.returncode == 0, validate.stdout + validate.stderr
