"""The ``mercato`` command line."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from mercato import catalog
from mercato.deploy.cli import render_app

app = typer.Typer(help="Mercato: run, inspect and administer the platform.", no_args_is_help=True)
admin_app = typer.Typer(help="Administer accounts.", no_args_is_help=True)
keys_app = typer.Typer(help="Manage auth's signing keys.", no_args_is_help=True)
mail_app = typer.Typer(help="Read the mail the local SMTP sink received.")
app.add_typer(admin_app, name="admin")
app.add_typer(keys_app, name="keys")
app.add_typer(mail_app, name="mail")
app.add_typer(render_app, name="render")

DEFAULT_DATA_DIR = Path(".mercato")
DataDirOption = typer.Option(
    DEFAULT_DATA_DIR, "--data-dir", help="Where the platform keeps its data, secrets and logs."
)


@app.command()
def up(
    data_dir: Path = DataDirOption,
    port: int = typer.Option(catalog.CONTAINER_PORT, help="The gateway's port."),
    port_offset: int = typer.Option(
        0, help="Shifts every service and engine port by N (to run platforms side by side)."
    ),
    services: str | None = typer.Option(
        None, help="Only these services (comma-separated); what they need comes along."
    ),
    log_level: str = typer.Option("info", help="Log level of the services."),
    ready_timeout: float = typer.Option(180.0, help="Seconds to wait for every /ready."),
    seed: bool = typer.Option(
        False, "--seed", help="Loads the demo data once every service is ready (mercato seed)."
    ),
    monitoring: bool = typer.Option(
        False,
        "--monitoring",
        help="Starts Prometheus (from PATH) scraping every service, with the alert rules.",
    ),
) -> None:
    """Starts the engines and every service, supervises them, stops them all on Ctrl-C."""
    from mercato.runner import plan
    from mercato.runner.supervisor import Hook, RunOptions, run

    # Run in order once every service is ready (--seed and --monitoring add theirs).
    hooks: list[Hook] = []
    if monitoring:
        from mercato.runner.monitoring import start_monitoring

        hooks.append(start_monitoring)
    if seed:
        from mercato.runner.seed import seed_when_ready

        hooks.append(seed_when_ready)
    options = RunOptions(
        data_dir=data_dir,
        gateway_port=port,
        port_offset=port_offset,
        services=plan.parse_service_list(services),
        log_level=log_level,
        ready_timeout=ready_timeout,
        hooks=hooks,
    )
    raise typer.Exit(run(options))


@app.command("seed")
def seed_demo_data(
    data_dir: Path = DataDirOption,
    gateway: str | None = typer.Option(
        None,
        help="The gateway's URL, for a platform not run from --data-dir (then name an existing "
        "administrator in MERCATO_SEED_ADMIN_EMAIL and MERCATO_SEED_ADMIN_PASSWORD).",
    ),
) -> None:
    """Loads demo products, pictures, stock and a customer; a second run changes nothing."""
    from mercato.runner.admin import AdminError
    from mercato.runner.seed import SeedError, demo_login_hint, seed

    try:
        report = seed(
            data_dir,
            environ=os.environ,
            say=lambda message: typer.echo(message, err=True),
            gateway_url=gateway,
        )
    except (SeedError, AdminError) as exc:
        typer.echo(f"failed: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(report.summary())
    typer.echo(demo_login_hint())


@app.command()
def status(data_dir: Path = DataDirOption) -> None:
    """Shows what runs from the data dir: processes, /health, /ready, engines."""
    from mercato.runner.display import make_console
    from mercato.runner.status import show_status

    raise typer.Exit(show_status(data_dir, make_console()))


@app.command()
def load(
    users: int = typer.Option(10, "--users", min=1, help="Shoppers at once."),
    spawn_rate: float = typer.Option(
        2.0, "--spawn-rate", min=0.01, help="New shoppers per second."
    ),
    run_time: str = typer.Option("2m", "--run-time", help="How long: 90s, 2m, 1h30m."),
    host: str | None = typer.Option(
        None, help="The gateway's URL; by default the platform running from --data-dir."
    ),
    data_dir: Path = DataDirOption,
    max_failure_ratio: float = typer.Option(
        0.01, min=0.0, max=1.0, help="Exit non-zero when more requests than this fail."
    ),
    wait_min: float = typer.Option(1.0, min=0.0, help="Least seconds a shopper waits."),
    wait_max: float = typer.Option(10.0, min=0.0, help="Most seconds a shopper waits."),
    spare_sku: list[str] = typer.Option(
        [], "--spare-sku", help="A SKU the shoppers look at but never buy (repeatable)."
    ),
    master: bool = typer.Option(False, "--master", help="Lead Locust workers (distributed)."),
    worker: bool = typer.Option(False, "--worker", help="Run shoppers for a Locust master."),
    master_host: str = typer.Option("127.0.0.1", help="The master a --worker joins."),
    master_port: int = typer.Option(5557, help="The master's port."),
    master_bind_host: str = typer.Option("*", help="Where a --master listens for workers."),
    expect_workers: int = typer.Option(1, min=1, help="Workers a --master waits for."),
) -> None:
    """Puts shoppers on the shop (Locust, headless) and reports per request kind."""
    from mercato.load.run import LoadOptions, new_run_dir, parse_run_time, run_load
    from mercato.runner import state as statefile
    from mercato.runner.display import make_console

    if master and worker:
        raise typer.BadParameter("--master and --worker exclude each other")
    if wait_max < wait_min:
        raise typer.BadParameter("--wait-max is below --wait-min")
    if host is not None and not host.startswith(("http://", "https://")):
        raise typer.BadParameter("the host is a URL: http://host:port", param_hint="--host")
    try:
        seconds = parse_run_time(run_time)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--run-time") from None
    if host is None and not worker:
        try:
            host = statefile.running_gateway_url(
                data_dir.resolve(), hint="start it with 'mercato up --seed', or name --host"
            )
        except statefile.NotRunning as exc:
            typer.echo(f"failed: {exc}", err=True)
            raise typer.Exit(1) from None
    options = LoadOptions(
        host=(host or "").rstrip("/"),
        users=users,
        spawn_rate=spawn_rate,
        run_time_s=seconds,
        run_dir=None if worker else new_run_dir(data_dir.resolve()),
        max_failure_ratio=max_failure_ratio,
        wait_min=wait_min,
        wait_max=wait_max,
        spare_skus=tuple(spare_sku),
        role="worker" if worker else "master" if master else "local",
        master_host=master_host,
        master_port=master_port,
        master_bind_host=master_bind_host,
        expect_workers=expect_workers,
    )
    raise typer.Exit(run_load(options, make_console()))


@app.command()
def chaos(
    name: str = typer.Argument(
        ...,
        help="kill-<service>, kill-each, graceful-restart-<service>, "
        "postgres-freeze, postgres-restart, nats-down or s3-down.",
    ),
    data_dir: Path = typer.Option(
        Path(".mercato-chaos"), "--data-dir", help="The experiment's own platform."
    ),
    port_offset: int = typer.Option(300, help="Shifts every port by N, away from `mercato up`'s."),
    users: int = typer.Option(3, "--users", min=1, help="Shoppers during the experiment."),
    load_seconds: float = typer.Option(120.0, "--load-seconds", help="How long the load runs."),
    fault_seconds: float = typer.Option(
        30.0, "--fault-seconds", help="How long an engine is down."
    ),
    kills: int = typer.Option(
        3, "--kills", min=1, help="SIGKILLs of order and payment in kill-each."
    ),
    settle_seconds: float = typer.Option(
        60.0, "--settle-seconds", help="How long the audit may wait to be clean."
    ),
    seed: int | None = typer.Option(
        None, "--random-seed", help="Seeds the random moments of the kills."
    ),
) -> None:
    """Runs one fault experiment under load and audits; exit 1 when the audit or recovery failed."""
    from mercato.chaos.experiment import ChaosOptions, ExperimentError, run_experiment

    options = ChaosOptions(
        name=name,
        data_dir=data_dir,
        port_offset=port_offset,
        users=users,
        load_seconds=load_seconds,
        fault_seconds=fault_seconds,
        kills=kills,
        settle_seconds=settle_seconds,
        seed=seed,
    )
    try:
        result = run_experiment(options, lambda message: typer.echo(message, err=True))
    except ExperimentError as exc:
        typer.echo(f"failed: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(result.markdown_row())
    raise typer.Exit(0 if result.passed else 1)


@admin_app.command("create")
def admin_create(
    email: str = typer.Option(..., help="The administrator's email (login)."),
    password: str = typer.Option(
        ..., prompt=True, hide_input=True, confirmation_prompt=True, help="At least 10 characters."
    ),
    name: str = typer.Option("Administrator", help="Display name."),
    data_dir: Path = DataDirOption,
) -> None:
    """Creates an administrator (or makes an existing account one), running or not."""
    from pydantic import ValidationError

    from mercato.platform.errors import DomainError
    from mercato.runner.admin import AdminError, create_admin
    from mercato.services.auth.schemas import UserCreate

    try:
        checked = UserCreate(email=email, password=password, name=name)
    except ValidationError as exc:
        problems = "; ".join(f"{e['loc'][0]}: {e['msg']}" for e in exc.errors())
        typer.echo(f"refused: {problems}", err=True)
        raise typer.Exit(2) from None
    try:
        admin = create_admin(
            data_dir,
            email=checked.email,
            password=checked.password,
            name=checked.name,
            environ=os.environ,
            say=lambda message: typer.echo(message, err=True),
        )
    except (AdminError, DomainError) as exc:
        typer.echo(f"failed: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"administrator {admin.email}: id {admin.id}, roles {', '.join(admin.roles)}")


@keys_app.command("rotate")
def keys_rotate(data_dir: Path = DataDirOption) -> None:
    """Makes a new signing key current; the previous one stays published until the next."""
    from mercato.runner.admin import AdminError, rotate_keys

    try:
        kid = rotate_keys(
            data_dir, environ=os.environ, say=lambda message: typer.echo(message, err=True)
        )
    except AdminError as exc:
        typer.echo(f"failed: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"new signing key {kid}")
    typer.echo(
        "running auth instances load it within 30 s; services fetch it on first sight of its kid",
        err=True,
    )


@mail_app.callback(invoke_without_command=True)
def mail(ctx: typer.Context, data_dir: Path = DataDirOption) -> None:
    """Lists the mail the local SMTP sink received (number, to, subject, time), oldest first."""
    ctx.obj = data_dir
    if ctx.invoked_subcommand is not None:
        return
    from mercato.runner.mailbox import Mailbox

    mailbox = Mailbox.of(data_dir)
    messages = mailbox.messages()
    if not messages:
        typer.echo(f"no mail in {mailbox.directory}")
        return
    width = max(len("to"), *(len(m.recipients) for m in messages))
    typer.echo(f"{'#':>4}  {'received (UTC)':<19}  {'to':<{width}}  subject")
    for message in messages:
        received = message.received_at.strftime("%Y-%m-%d %H:%M:%S")
        typer.echo(
            f"{message.number:>4}  {received}  {message.recipients:<{width}}  {message.subject}"
        )


@mail_app.command("show")
def mail_show(
    ctx: typer.Context,
    number: int = typer.Argument(..., help="The message's number in 'mercato mail'."),
    html: bool = typer.Option(False, "--html", help="Prints the HTML body, if it has one."),
    raw: bool = typer.Option(False, "--raw", help="Prints the .eml file as received."),
    data_dir: Path | None = typer.Option(
        None, "--data-dir", help="Where the platform keeps its data (as for 'mercato mail')."
    ),
) -> None:
    """Prints one message: its headers, its parts and its text (or HTML) body."""
    from mercato.runner.mailbox import Mailbox, MailboxError, describe

    try:
        stored = Mailbox.of(data_dir or ctx.obj or DEFAULT_DATA_DIR).message(number)
    except MailboxError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    if raw:
        typer.echo(stored.path.read_bytes().decode(errors="replace"), nl=False)
        return
    typer.echo(describe(stored, prefer="html" if html else "plain"))


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


if __name__ == "__main__":
    app()
