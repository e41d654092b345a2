"""Terraform: formatted, and every root validates against the real AWS provider schema."""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
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


def validate(directory: Path) -> str | None:
    """`terraform init` (provider from the local mirror) and `validate`; None when valid."""
    env = {**QUIET, "TF_DATA_DIR": str(directory / ".terraform")}
    command = [tools.terraform(), "init", "-backend=false", "-input=false", "-no-color"]
    init = tools.run(
        [*command, f"-plugin-dir={tools.terraform_plugin_dir()}"], cwd=directory, **env
    )
    if init.returncode != 0:
        return init.stdout + init.stderr
    result = tools.run([tools.terraform(), "validate", "-no-color"], cwd=directory, **env)
    return None if result.returncode == 0 else result.stdout + result.stderr


@pytest.fixture(scope="module")
def validation(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str | None]:
    """Every root validated, two at a time, in a copy so init writes nothing here."""
    target = tmp_path_factory.mktemp("terraform") / "terraform"
    shutil.copytree(TERRAFORM, target, ignore=shutil.ignore_patterns(".terraform*"))
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = pool.map(validate, [target / "roots" / root for root in ROOTS])
        return dict(zip(ROOTS, results, strict=True))


@pytest.mark.parametrize("root", ROOTS)
def test_root_validates_offline(root: str, validation: dict[str, str | None]) -> None:
    """`terraform validate` against the real provider schema (no registry needed)."""
    assert validation[root] is None, validation[root]


def test_irsa_roles_get_exactly_the_buckets_and_service_accounts_the_overlays_use() -> None:
    """Terraform's roles, trusts and buckets agree with what the pods are told (ADR 0024)."""
    import json

    from mercato.deploy import model
    from mercato.deploy.environments import ENVIRONMENTS

    outputs = json.loads((TERRAFORM / "modules" / "catalog" / "main.tf.json").read_text())
    buckets = outputs["output"]["aws_s3_buckets"]["value"]
    secret_env = outputs["output"]["environment_secret_env"]["value"]
    for env in ENVIRONMENTS.values():
        if not env.s3_on_aws:
            assert buckets[env.name] == {}
            continue
        assert buckets[env.name] == {s.name: env.buckets_of(s) for s in model.with_engine("s3")}
        assert all(
            b.startswith(env.bucket_prefix) for names in buckets[env.name].values() for b in names
        )
        for service in model.with_engine("s3"):
            assert not any("S3" in name for name in secret_env[env.name].get(service.name, []))
            # Roles are named <name>-<service> with name = mercato-<env>.
            assert env.s3_role_arn(service.name).endswith(f":role/{env.namespace}-{service.name}")
    iam = (TERRAFORM / "modules" / "iam" / "main.tf").read_text()
    assert 'name               = "${var.name}-${each.key}"' in iam
    assert '"system:serviceaccount:${each.value}"' in iam
    assert "service_accounts = merge(local.addons, var.workloads)" in iam
    module = (TERRAFORM / "modules" / "object-storage" / "main.tf").read_text()
    assert '"s3:*"' not in module.split('data "aws_iam_policy_document" "objects"')[1]
    environment = (TERRAFORM / "modules" / "environment" / "main.tf").read_text()
    workloads = environment.split("workloads = {")[1].split("\n  }")[0]
    assert 'service => "${local.name}:${service}"' in workloads
    assert "module.catalog.aws_s3_buckets[var.environment]" in workloads
    assert 'name = "mercato-${var.environment}"' in environment
