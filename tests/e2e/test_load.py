"""`mercato load` on the shared platform: a short run of the shopper model passes, reports
every request kind in Locust's CSV and HTML, and really places orders for the customers it
registered; Locust's master and worker split a run; a run that fails says so in its exit
status. Runs are short and small (a few shoppers, seconds) and target 127.0.0.1 only.
"""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from mercato.load.ledger import EMAIL_DOMAIN, SHOPPER_PASSWORD
from mercato.runner import seed
from mercato.runner.engines import free_port
from tests.e2e.support import MERCATO, RunningPlatform, eventually, new_data_dir, runner_env

pytestmark = pytest.mark.e2e

API = "/api/v1"
USERS = 5
RUN_TIME = "25s"
QUICK = ["--wait-min", "0.05", "--wait-max", "0.3"]  # busy shoppers: every kind in seconds
# Products other tests count exactly, and those with little stock (a later `mercato seed`
# must find nothing sold out): the shoppers look at them and never buy them.
SPARE = sorted({p.sku for p in seed.PRODUCTS if p.stock < 50} | {"KIT-KETTLE", "FUR-TABLE"})
# Every request kind of the model but DELETE /cart/items/{id}, which a shopper sends only
# when a product sold out under its basket.
KINDS = {
    "POST /auth/register",
    "POST /auth/login",
    "POST /payments/methods",
    "GET /products",
    "GET /products?q={query}",
    "GET /products/{id}",
    "GET /inventory/{sku}",
    "PUT /cart/items/{id}",
    "GET /cart",
    "POST /orders",
    "GET /orders/{id}",
    "GET /orders",
}


@dataclass
class LoadRun:
    """One finished `mercato load` and what it wrote."""

    done: subprocess.CompletedProcess[str]
    run_dir: Path

    def summary(self) -> dict[str, Any]:
        return dict(json.loads((self.run_dir / "summary.json").read_text()))

    def stats(self) -> dict[str, dict[str, str]]:
        """Locust's final statistics, by request kind (``Aggregated`` for the total)."""
        with open(self.run_dir / "locust_stats.csv", newline="") as file:
            return {f"{r['Type']} {r['Name']}".strip(): r for r in csv.DictReader(file)}

    def customers(self) -> list[dict[str, str]]:
        with open(self.run_dir / "customers.csv", newline="") as file:
            return list(csv.DictReader(file))


def mercato_load(data_dir: Path, *args: str, timeout: float = 180) -> LoadRun:
    """Runs `mercato load` to its end; the run directory it made under ``data_dir``."""
    before = set((data_dir / "load").glob("*"))
    done = subprocess.run(
        [*MERCATO, "load", "--data-dir", str(data_dir), *args],
        capture_output=True,
        text=True,
        env=runner_env(),
        timeout=timeout,
        check=False,
    )
    made = set((data_dir / "load").glob("*")) - before
    assert len(made) == 1, f"{done.stdout}\n{done.stderr}"
    return LoadRun(done, made.pop())


def spare_args() -> list[str]:
    return [arg for sku in SPARE for arg in ("--spare-sku", sku)]


@pytest.fixture(scope="module")
def load_run(shop: RunningPlatform) -> LoadRun:
    """Five shoppers for 25 s on the shared platform, its gateway found from the data dir."""
    return mercato_load(
        shop.data_dir,
        *("--users", str(USERS), "--spawn-rate", str(USERS), "--run-time", RUN_TIME),
        *QUICK,
        *spare_args(),
    )


def test_a_short_run_passes_and_reports_every_request_kind_without_failures(load_run):
    done = load_run.done
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    assert "passed: 0 failures in" in done.stdout
    assert "Requests by kind" in done.stdout

    stats = load_run.stats()
    missing = KINDS - stats.keys()
    assert not missing, f"kinds never sent: {missing}\n{done.stdout}"
    for kind in KINDS:
        assert int(stats[kind]["Request Count"]) > 0, kind
    failures = {kind: row["Failure Count"] for kind, row in stats.items()}
    assert set(failures.values()) == {"0"}, failures
    summary = load_run.summary()
    assert summary["verdict"]["passed"] is True
    assert summary["total"]["requests"] == int(stats["Aggregated"]["Request Count"]) > 0
    assert {k["kind"] for k in summary["kinds"]} == set(stats) - {"Aggregated"}

    history = (load_run.run_dir / "locust_stats_history.csv").read_text().splitlines()
    assert len(history) > 2
    html = (load_run.run_dir / "report.html").read_text()
    assert "<html" in html
    assert "/products/{id}" in html


def test_the_run_placed_real_orders_for_the_customers_it_registered(load_run, shop):
    customers = load_run.customers()
    assert len(customers) == USERS
    assert all(c["email"].endswith("@" + EMAIL_DOMAIN) for c in customers)
    assert seed.DEMO_CUSTOMER_EMAIL not in {c["email"] for c in customers}
    checkouts = load_run.summary()["checkouts"]
    assert checkouts.get("confirmed", 0) > 0, checkouts

    gateway = shop.url("gateway")

    def settled_orders() -> list[dict[str, Any]] | None:
        orders = [o for c in customers for o in orders_of(gateway, c["email"])]
        return None if any(o["status"] == "pending" for o in orders) else orders

    orders = eventually(settled_orders, what="every load order settled", deadline=60)
    # An order for every checkout answered, none lost, and none the shoppers did not send
    # (the end of the run may cut a checkout off before its answer).
    assert sum(checkouts.values()) <= len(orders) <= load_run.summary()["checkouts_sent"]
    statuses = Counter(o["status"] for o in orders)
    assert statuses["confirmed"] >= checkouts["confirmed"]
    assert statuses["confirmed"] + statuses["failed"] == len(orders), statuses
    bought = {item["sku"] for o in orders for item in o["items"]}
    assert not bought & set(SPARE)


def test_a_master_and_a_worker_share_a_run(shop):
    port = free_port()
    data_dir = shop.data_dir
    worker = subprocess.Popen(
        [*MERCATO, "load", "--worker", "--master-host", "127.0.0.1", "--master-port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=runner_env(),
    )
    try:
        run = mercato_load(
            data_dir,
            *("--master", "--master-bind-host", "127.0.0.1", "--master-port", str(port)),
            *("--expect-workers", "1", "--users", "2", "--spawn-rate", "2", "--run-time", "10s"),
            *QUICK,
            *spare_args(),
        )
        worker_output, _ = worker.communicate(timeout=60)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    assert run.done.returncode == 0, f"{run.done.stdout}\n{run.done.stderr}"
    assert worker.returncode == 0, worker_output
    summary = run.summary()
    assert summary["total"]["requests"] > 0
    assert summary["total"]["failures"] == 0
    # The worker's shoppers told the master about their customers.
    assert len(run.customers()) == 2
    assert summary["customers"] == 2


def test_a_run_whose_requests_fail_exits_non_zero(scratch: Path):
    nobody = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    run = mercato_load(
        scratch, "--host", nobody, "--users", "2", "--spawn-rate", "2", "--run-time", "3s"
    )
    assert run.done.returncode == 1, run.done.stdout
    assert "(100.00%, threshold 1.00%)" in run.done.stdout
    verdict = run.summary()["verdict"]
    assert verdict["passed"] is False
    assert verdict["failures"] == verdict["requests"] > 0


def test_load_without_a_running_platform_or_host_says_so(scratch: Path):
    done = subprocess.run(
        [*MERCATO, "load", "--data-dir", str(scratch), "--run-time", "5s"],
        capture_output=True,
        text=True,
        env=runner_env(),
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert "not running" in done.stderr
    assert not (scratch / "load").exists()


@pytest.mark.parametrize(
    "args",
    [
        ["--run-time", "soon"],
        ["--run-time", "0s"],
        ["--master", "--worker"],
        ["--wait-min", "5", "--wait-max", "1"],
        ["--host", "127.0.0.1:8080"],
        ["--users", "0"],
    ],
)
def test_load_refuses_options_that_make_no_run(scratch: Path, args: list[str]):
    done = subprocess.run(
        [*MERCATO, "load", "--data-dir", str(scratch), "--host", "http://127.0.0.1:1", *args],
        capture_output=True,
        text=True,
        env=runner_env(),
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert not (scratch / "load").exists()


@pytest.fixture
def scratch() -> Iterator[Path]:
    """A data dir with no platform in it."""
    data_dir = new_data_dir()
    yield data_dir
    shutil.rmtree(data_dir.parent, ignore_errors=True)


def orders_of(gateway: str, email: str) -> list[dict[str, Any]]:
    """Every order of a load customer, through the public API."""
    login = httpx.post(
        f"{gateway}{API}/auth/login",
        json={"email": email, "password": SHOPPER_PASSWORD},
        timeout=30,
    )
    assert login.status_code == 200, login.text
    listed = httpx.get(
        f"{gateway}{API}/orders",
        params={"limit": 100},
        headers={"Authorization": f"Bearer {login.json()['access_token']}"},
        timeout=30,
    )
    assert listed.status_code == 200, listed.text
    return list(listed.json()["items"])
