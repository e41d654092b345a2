"""Writes (or checks) every generated deployment file: ``mercato render``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mercato.deploy import compose, diagram, k8s, terraform
from mercato.deploy.documents import HEADER as HEADER  # re-exported for callers of render
from mercato.deploy.documents import serialise as serialise
from mercato.deploy.documents import to_yaml as to_yaml
from mercato.observability import render as monitoring

# Directories whose every file the generator owns: anything else found there is stale.
OWNED_DIRS = ("deploy/k8s", "deploy/compose", "deploy/monitoring")
TARGETS = ("k8s", "compose", "terraform", "docs", "contracts")
# deploy/monitoring (mercato.observability) comes first: the k8s component wraps its files.
ALL_TARGETS = ("monitoring", *TARGETS)


def generate(repo: Path, targets: tuple[str, ...] = TARGETS) -> dict[str, str]:
    """Every generated file of ``targets``: relative path to text."""
    files: dict[str, Any] = {}
    if "monitoring" in targets:
        files.update(monitoring.files())
    if "k8s" in targets:
        files.update(k8s.render(repo))
    if "compose" in targets:
        files.update(compose.render())
    if "terraform" in targets:
        files.update(terraform.render())
    if "docs" in targets:
        files.update(diagram.render())
    if "contracts" in targets:
        from mercato.contracts.published import files as contract_files

        files.update(contract_files())
    return {path: serialise(path, content) for path, content in sorted(files.items())}


def owned_dirs(targets: tuple[str, ...]) -> list[str]:
    """The directories fully owned by the generator among ``targets``."""
    return [d for d in OWNED_DIRS if d.split("/")[1] in targets]


def differences(repo: Path, targets: tuple[str, ...] = TARGETS) -> list[str]:
    """Files that differ from the generator's output, are missing, or are stale."""
    wanted = generate(repo, targets)
    problems = []
    for path, text in wanted.items():
        on_disk = repo / path
        if not on_disk.exists():
            problems.append(f"missing: {path}")
        elif on_disk.read_text() != text:
            problems.append(f"differs: {path}")
    for directory in owned_dirs(targets):
        for found in sorted((repo / directory).rglob("*")):
            relative = found.relative_to(repo).as_posix()
            if found.is_file() and relative not in wanted:
                problems.append(f"stale: {relative}")
    return problems


class BreakingContractChange(Exception):
    """The code breaks a published contract: it needs a new version, not an overwrite."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def breaking_contract_changes(repo: Path, wanted: dict[str, str]) -> list[str]:
    """How the generated contracts break the ones published under the same version."""
    from mercato.contracts.compatibility import breaking_changes
    from mercato.contracts.published import DIRECTORY

    problems = []
    for path, text in wanted.items():
        published = repo / path
        if path.startswith(DIRECTORY + "/") and published.exists():
            previous = json.loads(published.read_text())
            problems += [f"{path}: {p}" for p in breaking_changes(previous, json.loads(text))]
    return problems


def write(repo: Path, targets: tuple[str, ...] = TARGETS) -> list[str]:
    """Writes the generated files, removes stale ones; returns the paths that changed.

    A published contract is never overwritten by a breaking change (BreakingContractChange).
    """
    if "monitoring" in targets and len(targets) > 1:
        rest = tuple(t for t in targets if t != "monitoring")
        return write(repo, ("monitoring",)) + write(repo, rest)
    wanted = generate(repo, targets)
    breaking = breaking_contract_changes(repo, wanted)
    if breaking:
        raise BreakingContractChange(breaking)
    changed = []
    for path, text in wanted.items():
        target = repo / path
        if not target.exists() or target.read_text() != text:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
            changed.append(path)
    for directory in owned_dirs(targets):
        for found in sorted((repo / directory).rglob("*"), reverse=True):
            relative = found.relative_to(repo).as_posix()
            if found.is_file() and relative not in wanted:
                found.unlink()
                changed.append(relative)
            elif found.is_dir() and not any(found.iterdir()):
                found.rmdir()
    return changed


def repo_root() -> Path:
    """The repository this package lives in (an editable install), or the working directory."""
    here = Path(__file__).resolve().parents[3]
    return here if (here / "pyproject.toml").exists() else Path.cwd()
