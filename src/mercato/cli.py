"""The ``mercato`` command line."""

from __future__ import annotations

import typer

from mercato import catalog

app = typer.Typer(help="Mercato: run, inspect and administer the platform.", no_args_is_help=True)


@app.command()
def serve(service: str = typer.Argument(..., help="A catalog service name.")) -> None:
    """Runs one service in the foreground (what the runner and the images start)."""
    from mercato.platform.server import serve as serve_service

    catalog.get(service)
    serve_service(service)


@app.command()
def migrate(service: str = typer.Argument(..., help="A catalog service name.")) -> None:
    """Upgrades one service's database to the newest revision (MERCATO_DATABASE_URL)."""
    from mercato.platform.logging import configure_logging
    from mercato.platform.migrations import migrate_service

    configure_logging(service)
    migrate_service(service)
