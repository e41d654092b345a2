"""Image tags per environment: set by the release pipeline, copied by promotion."""

from __future__ import annotations

from pathlib import Path

from mercato.deploy import render
from mercato.deploy.environments import ENVIRONMENTS
from mercato.deploy.k8s.objects import ROOT
from mercato.deploy.k8s.overlays import image_names, images_component, read_images

PROMOTIONS = {("dev", "stg"), ("stg", "prod")}


def images_path(repo: Path, env: str) -> Path:
    """The environment's image component."""
    if env not in ENVIRONMENTS:
        raise ValueError(f"unknown environment {env!r}; known: {', '.join(ENVIRONMENTS)}")
    return repo / ROOT / "overlays" / env / "images" / "kustomization.yaml"


def _write(repo: Path, env: str, entries: dict[str, dict[str, str]]) -> Path:
    path = images_path(repo, env)
    content = images_component(ENVIRONMENTS[env], entries)
    relative = path.relative_to(repo).as_posix()
    path.write_text(render.serialise(relative, content))
    return path


def set_tag(repo: Path, env: str, tag: str, registry: str | None = None) -> Path:
    """Every service of ``env`` at ``tag`` (and ``registry``, if given)."""
    current = read_images(repo, env) if images_path(repo, env).exists() else {}
    entries = {}
    for image in image_names(ENVIRONMENTS[env]):
        name = current.get(image, {}).get("newName", image)
        if registry:
            name = f"{registry.rstrip('/')}/{image}"
        entries[image] = {"newName": name, "newTag": tag}
    return _write(repo, env, entries)


def promote(repo: Path, source: str, target: str) -> Path:
    """``target`` runs exactly the images ``source`` runs."""
    if (source, target) not in PROMOTIONS:
        raise ValueError(f"promotion goes dev -> stg -> prod, not {source} -> {target}")
    return _write(repo, target, read_images(repo, source))
