"""``mercato up --monitoring``: Prometheus scraping every service and the engines that can be.

Prometheus is found on PATH (Debian's ``prometheus`` package); without it the platform
runs unmonitored and says how to get it. Its configuration, target list, rules and data
live under ``<data dir>/prometheus``: the target list is written from the services the
runner started (the catalog's ports), the rules are the same as deploy/monitoring's.
SeaweedFS serves Prometheus metrics on its metrics port; NATS's monitoring port speaks
JSON only and PostgreSQL has no endpoint of its own, so the chassis' metrics stand in
for them (outbox, consumers, connection pools).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from mercato.observability import rules, scrape
from mercato.runner import display, plan
from mercato.runner import state as statefile
from mercato.runner.engines import SeaweedS3, http_ok, port_is_open

if TYPE_CHECKING:
    from mercato.runner.supervisor import Runner

PROMETHEUS_PORT = 19090
READY_TIMEOUT = 60.0
INSTALL_HINT = (
    "Prometheus is not on PATH: install Debian's package (apt-get install prometheus; "
    "stop the system service it starts if you do not want it: systemctl disable --now "
    "prometheus) or put a prometheus binary from prometheus.io/download on PATH"
)


def prometheus_port(offset: int) -> int:
    """Where the runner's Prometheus listens."""
    return PROMETHEUS_PORT + offset


def write_configuration(runner: Runner, home: Path, port: int) -> Path:
    """Writes rules, the service target list and prometheus.yml; returns the config path."""
    rules_dir = home / "rules"
    rules_dir.mkdir(parents=True, exist_ok=True)
    for name, content in rules.rule_files().items():
        (rules_dir / name).write_text(yaml.safe_dump(content, sort_keys=False))
    targets = home / "targets" / "services.json"
    targets.parent.mkdir(parents=True, exist_ok=True)
    ports = {name: service.port for name, service in runner.services.items()}
    targets.write_text(json.dumps(scrape.service_targets(ports, plan.HOST), indent=2))
    engine_targets = []
    s3 = runner.engines.get("s3")
    if s3 is not None and isinstance(s3.engine, SeaweedS3) and s3.engine.metrics_address:
        engine_targets.append(("seaweedfs", s3.engine.metrics_address))
    config = home / "prometheus.yml"
    config.write_text(
        yaml.safe_dump(
            scrape.local_config(
                rules_dir=str(rules_dir),
                targets_file=str(targets),
                engine_targets=engine_targets,
                own_address=f"{plan.HOST}:{port}",
            ),
            sort_keys=False,
        )
    )
    return config


async def start_monitoring(runner: Runner) -> None:
    """The ``--monitoring`` hook: starts Prometheus once every service is ready."""
    binary = shutil.which("prometheus")
    if binary is None:
        runner.say(INSTALL_HINT, style="yellow")
        return
    port = prometheus_port(runner.options.port_offset)
    if port_is_open(port):
        runner.say(
            f"port {port} is taken, so Prometheus does not start: stop what listens there, "
            "or shift every port with --port-offset",
            style="yellow",
        )
        return
    home = runner.data_dir / "prometheus"
    config = write_configuration(runner, home, port)
    url = f"http://{plan.HOST}:{port}"
    process = runner.spawn_extra(
        "prometheus",
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={home / 'data'}",
            "--storage.tsdb.retention.time=7d",
            f"--web.listen-address={plan.HOST}:{port}",
        ],
        url=url,
    )
    deadline = time.monotonic() + READY_TIMEOUT
    while not await asyncio.to_thread(http_ok, f"{url}/-/ready"):
        if process.poll() is not None or time.monotonic() > deadline:
            runner.say(
                f"Prometheus did not start; see {runner.logs_dir / 'prometheus.log'}",
                style="bold red",
            )
            return
        await asyncio.sleep(0.2)
    managed = runner.engines["prometheus"]
    runner.console.print(
        display.engines_table(
            [
                statefile.EngineState(
                    name=managed.name,
                    url=url,
                    pid=process.pid,
                    state=managed.state,
                    external=False,
                    port=port,
                )
            ]
        )
    )
    runner.say(
        f"prometheus is ready at {url}, scraping {len(runner.services)} services every "
        f"{scrape.LOCAL_SCRAPE_INTERVAL} (config, rules and data in {home})"
    )
