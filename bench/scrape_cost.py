r"""Scrape cost: how long Prometheus takes to scrape each service, and how many series each has.

``mercato up --monitoring --seed`` runs as a child in a scratch data dir (every service,
the engines, Prometheus from PATH scraping every 5 s). Shoppers then register, log in,
browse and check out through the gateway for ``--seconds`` (one card in four declined),
so every route, upstream and event type has its series; after ``--settle`` seconds of
further scrapes, the runner's Prometheus is asked, per scrape job, for the scrape
duration (mean and max over the settle window, ``scrape_duration_seconds``) and the
samples per scrape (``scrape_samples_scraped``: the series count), and each /metrics
body is fetched once for its size.

Run (Prometheus from Debian: apt-get install prometheus):

    .venv/bin/python bench/scrape_cost.py --seconds 60 --settle 60 --json
"""

from __future__ import annotations

import argparse
import random
import shutil
import socket
import time
import uuid
from typing import Any

import httpx

from _common import (
    PYTHON,
    BenchError,
    Processes,
    machine_state,
    main_guard,
    print_table,
    progress,
    require,
    wait_http,
    write_results,
)
from mercato import catalog
from mercato.runner import plan
from mercato.runner.engines import EnginePorts
from mercato.runner.monitoring import prometheus_port
from mercato.runner.seed import DEMO_CUSTOMER_EMAIL

API = "/api/v1"
PASSWORD = "correct-horse-battery"  # noqa: S105 (a throw-away shopper)
ADDRESS = {
    "name": "Bench",
    "line1": "1 Road",
    "city": "Town",
    "postal_code": "1000",
    "country": "BE",
}
CARDS = ("4242424242424242", "4242424242424242", "4242424242424242", "4000000000000002")


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_offset() -> int:
    """A port offset under which the services, engines and Prometheus find free ports."""
    base = [*plan.service_ports().values(), *vars(EnginePorts()).values(), prometheus_port(0)]
    for _ in range(500):
        offset = random.randrange(1000, 30000)
        if all(_free(p + offset) for p in base):
            return offset
    raise BenchError("no free port offset found")


def shop(gateway: str, seconds: float) -> dict[str, int]:
    """Shoppers sign up, log in (the first ones once wrongly), browse and check out."""
    done = {"checkouts": 0, "registrations": 0}
    deadline = time.monotonic() + seconds
    with httpx.Client(base_url=gateway, timeout=60) as http:
        products = http.get(f"{API}/products", params={"limit": 20}).json()["items"]
        if not products:
            raise BenchError("the demo catalog is empty: did --seed run?")
        while time.monotonic() < deadline:
            email = f"bench-{uuid.uuid4().hex[:10]}@example.com"
            http.post(
                f"{API}/auth/register", json={"email": email, "password": PASSWORD, "name": "B"}
            )
            done["registrations"] += 1
            if done["registrations"] <= 10:  # auth locks an address after 20 failures
                http.post(
                    f"{API}/auth/login", json={"email": email, "password": "not-the-password"}
                )
            token = http.post(f"{API}/auth/login", json={"email": email, "password": PASSWORD})
            who = {"Authorization": f"Bearer {token.json()['access_token']}"}
            card = http.post(
                f"{API}/payments/methods",
                json={"card_number": random.choice(CARDS), "exp_month": 12, "exp_year": 2035,
                      "cvc": "123"},
                headers=who,
            ).json()["id"]  # fmt: skip
            for _ in range(3):
                product = random.choice(products)
                http.get(f"{API}/products/{product['id']}")
                http.get(f"{API}/inventory/{product['sku']}")
            http.put(f"{API}/cart/items/{product['id']}", json={"quantity": 1}, headers=who)
            http.post(
                f"{API}/orders",
                json={"shipping_address": ADDRESS, "payment_method_id": card},
                headers={**who, "Idempotency-Key": uuid.uuid4().hex},
            )
            done["checkouts"] += 1
    return done


def one(prometheus: httpx.Client, expr: str) -> float:
    """The value of a query returning one series (NaN when none)."""
    result = prometheus.get("/api/v1/query", params={"query": expr}).json()["data"]["result"]
    return float(result[0]["value"][1]) if result else float("nan")


def measure(prometheus: httpx.Client, settle: int, urls: dict[str, str]) -> list[dict[str, Any]]:
    """Per scrape job: series per scrape, body size, mean and max scrape duration."""
    window = f"{settle}s"
    rows = []
    for job, url in urls.items():
        body = httpx.get(f"{url}/metrics", timeout=10).content
        rows.append(
            {
                "job": job,
                "series": one(prometheus, f'scrape_samples_scraped{{job="{job}"}}'),
                "body_kib": len(body) / 1024,
                "mean_ms": 1000
                * one(
                    prometheus, f'avg_over_time(scrape_duration_seconds{{job="{job}"}}[{window}])'
                ),
                "max_ms": 1000
                * one(
                    prometheus, f'max_over_time(scrape_duration_seconds{{job="{job}"}}[{window}])'
                ),
            }
        )
    return rows


def run() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="Seconds of shopping.")
    parser.add_argument("--settle", type=int, default=60, help="Seconds of scrapes measured.")
    parser.add_argument("--json", action="store_true", help="Also write bench/results/*.json.")
    args = parser.parse_args()
    require("prometheus", "apt-get update && apt-get install -y prometheus")

    offset = free_offset()
    with Processes(prefix="mercato-bench-scrape-") as processes:
        data = processes.workdir / "data"
        runner = processes.start(
            "mercato",
            [PYTHON, "-m", "mercato.cli", "up", "--monitoring", "--seed",
             "--data-dir", str(data), "--port-offset", str(offset)],
        )  # fmt: skip
        ports = plan.service_ports(offset=offset)
        gateway = f"http://127.0.0.1:{ports['gateway']}"
        prometheus_url = f"http://127.0.0.1:{prometheus_port(offset)}"
        progress("waiting for the platform, Prometheus and the demo data")
        wait_http(f"{gateway}/ready", runner, timeout=240)
        wait_http(f"{prometheus_url}/-/ready", runner, timeout=120)
        deadline = time.monotonic() + 240
        while DEMO_CUSTOMER_EMAIL not in runner.log_tail(400) and time.monotonic() < deadline:
            time.sleep(1)
        progress(f"shopping for {args.seconds:.0f}s")
        done = shop(gateway, args.seconds)
        progress(f"{done}; measuring {args.settle}s of scrapes")
        time.sleep(args.settle)
        urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
        urls["seaweedfs"] = f"http://127.0.0.1:{EnginePorts().s3_metrics + offset}"
        urls["prometheus"] = prometheus_url
        with httpx.Client(base_url=prometheus_url, timeout=30) as prometheus:
            rows = measure(prometheus, args.settle, urls)
            head_series = one(prometheus, "prometheus_tsdb_head_series")
        processes.stop(runner, timeout=120)

    print_table(
        ["job", "series", "/metrics KiB", "scrape mean ms", "scrape max ms"],
        [[r["job"], r["series"], r["body_kib"], r["mean_ms"], r["max_ms"]] for r in rows],
    )
    services = [r for r in rows if r["job"] in catalog.SERVICES]
    print(
        f"\n{len(services)} services: {sum(r['series'] for r in services):.0f} series per round "
        f"of scrapes; Prometheus' head holds {head_series:.0f} series (rules included)."
    )
    if args.json:
        path = write_results(
            "scrape_cost",
            {"machine": machine_state(), "args": vars(args), "traffic": done, "rows": rows,
             "head_series": head_series},
        )  # fmt: skip
        progress(f"wrote {path}")
    shutil.rmtree(processes.workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    main_guard(run)
