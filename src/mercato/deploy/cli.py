"""``mercato render``: write or check the generated deployment files."""

from __future__ import annotations

from pathlib import Path

import typer

# The generator's modules load on use, so `mercato --help` stays quick.

render_app = typer.Typer(
    help="Generate deployment files (Kubernetes, compose, Terraform, monitoring) from the catalog.",
    no_args_is_help=True,
)

RepoOption = typer.Option(None, "--repo", help="Repository root (default: this checkout).")


def _run(targets: tuple[str, ...], repo: Path | None, check: bool) -> None:
    from mercato.deploy import render

    root = repo or render.repo_root()
    if check:
        problems = render.differences(root, targets)
        for problem in problems:
            typer.echo(problem)
        if problems:
            typer.echo("generated files are out of date: run `mercato render all`", err=True)
            raise typer.Exit(1)
        typer.echo("generated files are up to date")
        return
    try:
        written = render.write(root, targets)
    except render.BreakingContractChange as breaking:
        for problem in breaking.problems:
            typer.echo(problem)
        typer.echo(
            "these changes break published contracts: add a field as optional, "
            "or publish a new version (raise the event model's version)",
            err=True,
        )
        raise typer.Exit(1) from None
    for path in written:
        typer.echo(f"wrote {path}")


@render_app.command("k8s")
def render_k8s(repo: Path | None = RepoOption, check: bool = False) -> None:
    """Writes deploy/k8s (base, components, overlays) from the catalog."""
    _run(("k8s",), repo, check)


@render_app.command("compose")
def render_compose(repo: Path | None = RepoOption, check: bool = False) -> None:
    """Writes deploy/compose from the catalog."""
    _run(("compose",), repo, check)


@render_app.command("terraform")
def render_terraform(repo: Path | None = RepoOption, check: bool = False) -> None:
    """Writes the Terraform catalog module from the catalog."""
    _run(("terraform",), repo, check)


@render_app.command("monitoring")
def render_monitoring(repo: Path | None = RepoOption, check: bool = False) -> None:
    """Writes deploy/monitoring: Prometheus rules and configs, Grafana dashboards."""
    _run(("monitoring",), repo, check)


@render_app.command("docs")
def render_docs(repo: Path | None = RepoOption, check: bool = False) -> None:
    """docs/architecture.md: services, calls and events drawn from the catalog."""
    _run(("docs",), repo, check)


@render_app.command("contracts")
def render_contracts(repo: Path | None = RepoOption, check: bool = False) -> None:
    """docs/contracts: JSON Schema of every event, OpenAPI of service-to-service routes."""
    _run(("contracts",), repo, check)


@render_app.command("all")
def render_all(repo: Path | None = RepoOption, check: bool = False) -> None:
    """Writes (or with --check, verifies) every generated deployment file."""
    from mercato.deploy.render import ALL_TARGETS

    _run(ALL_TARGETS, repo, check)


@render_app.command("set-image")
def set_image(
    env: str = typer.Option(..., help="dev, stg or prod"),
    tag: str = typer.Option(..., help="Image tag, e.g. 20260101-120000-abc1234"),
    registry: str | None = typer.Option(None, help="Registry host/path prefix, e.g. ECR."),
    repo: Path | None = RepoOption,
) -> None:
    """Points every service of an environment at one image tag (the release pipeline)."""
    from mercato.deploy import images, render

    path = images.set_tag(repo or render.repo_root(), env, tag, registry)
    typer.echo(f"wrote {path}")


@render_app.command("promote")
def promote(
    source: str = typer.Argument(..., help="Environment to copy from (dev or stg)."),
    target: str = typer.Argument(..., help="Environment to copy to (stg or prod)."),
    repo: Path | None = RepoOption,
) -> None:
    """Copies the exact image names and tags of one environment to the next."""
    from mercato.deploy import images, render

    path = images.promote(repo or render.repo_root(), source, target)
    typer.echo(f"wrote {path}")


@render_app.command("client-secret")
def client_secret(service: str = typer.Argument(..., help="A catalog service name.")) -> None:
    """Prints a service's client secret, derived from MERCATO_AUTH_SECRET_KEY (for .env)."""
    import os

    from mercato import catalog
    from mercato.platform.security import derive_client_secret

    catalog.get(service)
    master = os.environ.get("MERCATO_AUTH_SECRET_KEY", "")
    if not master:
        raise typer.BadParameter("set MERCATO_AUTH_SECRET_KEY to auth's secret key")
    typer.echo(derive_client_secret(master, service))
