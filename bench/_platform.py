"""A throw-away Mercato platform for the benchmarks: some services on their engines.

Engines come from the launchers the runner and the tests use; databases are created
and migrated, and every service gets its ``MERCATO_*`` environment, the way the runner
does it (``mercato.runner.plan``); services run as real processes
(``python -m mercato.platform.server <name>``) on free ports, in the runner's start order.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from _common import PYTHON, BenchError, Child, Processes, free_port, progress, wait_http
from mercato import catalog
from mercato.platform import migrations
from mercato.platform.db import with_database
from mercato.runner import plan
from mercato.runner.engines import EngineError, EnginePorts, engines_for


@dataclass
class Platform:
    """The started processes (services and engines) and where they listen."""

    children: dict[str, Child]
    urls: dict[str, str]
    databases: dict[str, str]


def start_platform(
    processes: Processes,
    services: Sequence[str],
    *,
    env: Mapping[str, Mapping[str, str]] | None = None,
    timeout: float = 180.0,
) -> Platform:
    """Starts the engines ``services`` need, migrates their databases, then the services.

    ``env`` adds variables per service. The gateway's per-client rate limit is off: one
    load generator is one client, and the limit would cap the run.
    """
    engine_secrets = {
        "postgres_password": secrets.token_urlsafe(16),
        "s3_access_key": "bench" + secrets.token_hex(6),
        "s3_secret_key": secrets.token_urlsafe(24),
    }
    engines = engines_for(
        processes.workdir / "engines",
        EnginePorts.free(),
        engine_secrets,
        postgres_home=processes.workdir / "postgres-home",
    )
    children: dict[str, Child] = {}
    for name in plan.engines_needed(list(services)):
        engine = engines[name]
        log_path = processes.workdir / "logs" / f"{name}.log"
        children[name] = Child(
            name, engine.start(log_path), log_path, stop_signal=engine.stop_signal
        )
        processes.children.append(children[name])
    for name, child in list(children.items()):
        progress(f"waiting for {name}")
        try:
            engines[name].wait_ready(child.process)
        except EngineError as exc:
            raise BenchError(f"{exc}:\n{child.log_tail()}") from None

    endpoints = plan.Endpoints(
        database_url=engines["postgres"].url if "postgres" in children else None,
        nats_url=engines["nats"].url if "nats" in children else None,
        s3_endpoint=engines["s3"].url if "s3" in children else None,
        s3_access_key=engine_secrets["s3_access_key"],
        s3_secret_key=engine_secrets["s3_secret_key"],
    )
    databases = {}
    for name in services:
        spec = catalog.get(name)
        if spec.database and spec.migrations and endpoints.database_url:
            asyncio.run(migrations.ensure_database(endpoints.database_url, spec.database))
            databases[name] = with_database(endpoints.database_url, spec.database)
            migrations.upgrade(spec.migrations, databases[name])

    ports = {name: free_port() for name in services}
    urls = plan.service_urls(ports)
    run_secrets = {"auth_secret_key": secrets.token_urlsafe(24)}
    extra = {plan.GATEWAY: {"MERCATO_RATE_LIMIT_PER_SECOND": "0"}, **(env or {})}
    for name in plan.start_order(list(services)):
        service_env = plan.service_env(name, ports=ports, endpoints=endpoints, secrets=run_secrets)
        children[name] = processes.start(
            name,
            [PYTHON, "-m", "mercato.platform.server", name],
            env={**service_env, **extra.get(name, {})},
        )
        progress(f"waiting for {name}")
        wait_http(urls[name] + "/ready", children[name], timeout=timeout)
    return Platform(children, urls, databases)
