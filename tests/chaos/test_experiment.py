"""Short fault experiments end to end: order killed, PostgreSQL killed, under load; then a
clean audit.

The full set runs by hand (``make chaos``, figures in docs/RESILIENCE.md); these keep the
experiment machinery and the runner's restarts honest in ``make test`` with 3 shoppers for
20 s each.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from mercato import catalog
from mercato.chaos.experiment import ChaosOptions, Result, experiment_names, run_experiment
from tests.e2e.support import POSTGRES_HOME, free_offset, new_data_dir


def test_every_catalog_service_has_its_kill_and_graceful_restart():
    names = experiment_names()

    for service in catalog.names():
        assert f"kill-{service}" in names
        assert f"graceful-restart-{service}" in names
    assert {"postgres-freeze", "postgres-restart", "nats-down", "s3-down"} <= set(names)


def experiment(monkeypatch: pytest.MonkeyPatch, name: str, **options: int) -> tuple[Result, Path]:
    """Runs experiment ``name`` on a platform of its own (3 shoppers, 20 s); its result."""
    for variable in [n for n in os.environ if n.startswith("MERCATO_")]:
        monkeypatch.delenv(variable)
    monkeypatch.setenv("MERCATO_POSTGRES_HOME", str(POSTGRES_HOME))
    data_dir = new_data_dir()
    result = run_experiment(
        ChaosOptions(
            name=name,
            data_dir=data_dir,
            port_offset=free_offset(),
            users=3,
            load_seconds=20,
            settle_seconds=60,
            seed=13,
            **options,
        ),
        print,
    )
    assert result.requests > 0
    assert result.audit["clean"], result.audit
    assert result.recovery_seconds is not None
    assert result.recovery_seconds <= 10
    written = json.loads(next((data_dir / "chaos").glob(f"{name}-*.json")).read_text())
    assert written["passed"] is True
    return result, data_dir


def test_killing_order_under_load_loses_nothing_and_the_shop_recovers(
    monkeypatch: pytest.MonkeyPatch,
):
    result, data_dir = experiment(monkeypatch, "kill-order", kills=2)

    assert result.injected == "SIGKILL order"
    assert "`kill-order`" in (data_dir / "chaos" / "results.md").read_text()


def test_postgres_killed_under_load_is_restarted_by_the_runner_and_loses_nothing(
    monkeypatch: pytest.MonkeyPatch,
):
    result, _ = experiment(monkeypatch, "postgres-restart")

    assert result.injected.startswith("SIGKILL postgres; the runner had it running again in ")
