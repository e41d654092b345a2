"""The monitoring against a real Prometheus: `mercato up --monitoring --seed` in a subprocess,
real traffic through the gateway (registrations, logins, checkouts), then questions to the
Prometheus the runner started."""

from __future__ import annotations

import contextlib
import re
import shutil
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from mercato import catalog
from mercato.observability import dashboards, rules
from mercato.runner import seed
from mercato.runner.monitoring import prometheus_port
from tests.e2e.support import RunningPlatform, eventually, free_offset, new_data_dir, port_free
from tests.observability.conftest import prometheus_tool

pytestmark = pytest.mark.e2e

API = "/api/v1"
PASSWORD = "correct-horse-battery"
ADDRESS = {
    "name": "Grace Hopper",
    "line1": "1 Navy Yard",
    "city": "Arlington",
    "postal_code": "22202",
    "country": "US",
}
# Dashboard variables as Grafana would fill them in.
VARIABLES = {
    "$namespace": ".*",
    "$service": "gateway",
    "$__rate_interval": "1m",
    "$__range": "15m",
}
# Kubernetes' own series (kube-state-metrics, cAdvisor) and Prometheus' `up`: the only
# names a dashboard may use that no Mercato process exports.
NOT_FROM_MERCATO = frozenset(
    {
        "up",
        "kube_pod_container_resource_requests",
        "kube_pod_container_resource_limits",
        "kube_pod_container_status_restarts_total",
        "container_memory_working_set_bytes",
    }
)
PROMQL_WORDS = frozenset(
    {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless",
     "offset", "bool", "inf", "nan"}
)  # fmt: skip


class Prometheus:
    """The HTTP API of the runner's Prometheus."""

    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=url, timeout=30)

    def query(self, expr: str) -> dict[str, Any]:
        """The instant query's answer; a parse error is a 400 with status error."""
        answer = self.http.get("/api/v1/query", params={"query": expr})
        body: dict[str, Any] = answer.json()
        return body

    def result(self, expr: str) -> list[dict[str, Any]]:
        body = self.query(expr)
        assert body["status"] == "success", f"{expr}: {body}"
        return list(body["data"]["result"])


def free_monitoring_offset() -> int:
    while True:
        offset = free_offset()
        if port_free(prometheus_port(offset)):
            return offset


@pytest.fixture(scope="module")
def platform() -> Iterator[RunningPlatform]:
    prometheus_tool("prometheus")  # installs Debian's package on a machine without it
    running = RunningPlatform(
        new_data_dir(), free_monitoring_offset(), extra_args=["--monitoring", "--seed"]
    ).start()
    try:
        running.wait_running()
        eventually(
            lambda: True if seed.DEMO_CUSTOMER_EMAIL in running.output_tail(400) else None,
            what="the demo data",
            deadline=240,
        )
        yield running
    finally:
        running.kill()
        shutil.rmtree(running.data_dir.parent, ignore_errors=True)


@pytest.fixture(scope="module")
def prometheus(platform: RunningPlatform) -> Prometheus:
    def listed() -> str | None:
        state = platform.state()
        engine = next((e for e in state.engines if e.name == "prometheus"), None) if state else None
        return engine.url if engine else None

    url = eventually(listed, what="Prometheus in the runner's state", deadline=60)
    assert url in platform.output_tail(2000), "the runner's table names Prometheus' URL"
    return Prometheus(url)


def sign_up(gateway: httpx.Client, name: str) -> dict[str, str]:
    email = f"{name}-{uuid.uuid4().hex[:6]}@example.com"
    created = gateway.post(
        f"{API}/auth/register", json={"email": email, "password": PASSWORD, "name": name}
    )
    assert created.status_code == 201, created.text
    refused = gateway.post(f"{API}/auth/login", json={"email": email, "password": "wrong-one!"})
    assert refused.status_code == 401
    tokens = gateway.post(f"{API}/auth/login", json={"email": email, "password": PASSWORD})
    assert tokens.status_code == 200, tokens.text
    return {"Authorization": f"Bearer {tokens.json()['access_token']}"}


def buy(gateway: httpx.Client, who: dict[str, str], product_id: str, card: str) -> str:
    added = gateway.post(
        f"{API}/payments/methods",
        json={"card_number": card, "exp_month": 12, "exp_year": 2035, "cvc": "123"},
        headers=who,
    )
    assert added.status_code == 201, added.text
    cart = gateway.put(f"{API}/cart/items/{product_id}", json={"quantity": 1}, headers=who)
    assert cart.status_code == 200, cart.text
    placed = gateway.post(
        f"{API}/orders",
        json={"shipping_address": ADDRESS, "payment_method_id": added.json()["id"]},
        headers={**who, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert placed.status_code == 201, placed.text
    return str(placed.json()["status"])


@pytest.fixture(scope="module")
def traffic(platform: RunningPlatform, prometheus: Prometheus) -> None:
    """Registrations, logins, browsing and checkouts (one declined), then scraped."""
    with httpx.Client(base_url=platform.url("gateway"), timeout=60) as gateway:
        products = gateway.get(f"{API}/products", params={"limit": 5}).json()["items"]
        assert products
        statuses = []
        for index in range(3):
            who = sign_up(gateway, f"shopper{index}")
            card = "4000000000000002" if index == 2 else "4242424242424242"
            statuses.append(buy(gateway, who, products[index]["id"], card))
        assert statuses == ["confirmed", "confirmed", "failed"]
        assert gateway.get(f"{API}/no-such-route").status_code == 404

        def scraped() -> bool | None:
            # rate() needs a counter to grow between two scrapes: a series first seen
            # after a burst starts at its total and shows no rate, so keep browsing.
            assert gateway.get(f"{API}/products", params={"limit": 1}).status_code == 200
            confirmed = prometheus.result(
                'sum(mercato_orders_total{status="confirmed"}) >= 2 and '
                "sum(service:mercato_http_requests:rate5m) > 0"
            )
            return True if confirmed else None

        eventually(scraped, what="the traffic in Prometheus", deadline=120)


def test_every_catalog_service_is_up(prometheus: Prometheus, traffic: None) -> None:
    found = {
        r["metric"]["service"]: r["value"][1]
        for r in prometheus.result(f'up{{job=~"{rules.service_jobs()}"}}')
    }
    assert found == dict.fromkeys(catalog.names(), "1")
    assert prometheus.result('up{job="seaweedfs"} == 1'), "SeaweedFS' metrics are scraped"


def test_every_recording_rule_and_alert_expression_parses(prometheus: Prometheus) -> None:
    for group in [*rules.recording_groups(), *rules.alert_groups()]:
        for rule in group["rules"]:
            body = prometheus.query(rule["expr"])
            assert body["status"] == "success", f"{rule.get('record') or rule['alert']}: {body}"


def test_the_rules_are_loaded_and_evaluate_without_error(
    prometheus: Prometheus, traffic: None
) -> None:
    def evaluated() -> list[dict[str, Any]] | None:
        groups = prometheus.http.get("/api/v1/rules").json()["data"]["groups"]
        loaded = [rule for group in groups for rule in group["rules"]]
        return loaded if all(r["health"] != "unknown" for r in loaded) else None

    loaded = eventually(evaluated, what="a first evaluation of every rule", deadline=60)
    expected = {r.get("record") or r["alert"] for g in rules.recording_groups() for r in g["rules"]}
    expected |= {a.name for a in rules.alerts()}
    assert {r["name"] for r in loaded} == expected
    broken = {r["name"]: r.get("lastError") for r in loaded if r["health"] != "ok"}
    assert broken == {}


def panel_queries(board: dict[str, Any]) -> list[tuple[str, str]]:
    """(panel title, expression) of every query in a dashboard, variables filled in."""
    found = []
    for panel in board["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"]
            for name, value in VARIABLES.items():
                expr = expr.replace(name, value)
            assert "$" not in expr, f"{panel['title']}: an unknown variable in {expr}"
            found.append((panel["title"], expr))
    return found


def test_every_dashboard_query_parses(prometheus: Prometheus) -> None:
    for board in dashboards.boards():
        for title, expr in panel_queries(board.build()):
            body = prometheus.query(expr)
            assert body["status"] == "success", f"{board.title} / {title}: {body}"


def test_the_core_panels_show_data(prometheus: Prometheus, traffic: None) -> None:
    core = {(b.uid, title) for b in dashboards.boards() for title in b.core}
    assert {title for _, title in core} >= {
        "Request rate by service",
        "Error ratio (5xx) by service",
        "p99 latency by service",
        "Builds",
        "Outbox backlog per service",
    }
    wanted = [
        (f"{board.title} / {title}", expr)
        for board in dashboards.boards()
        for title, expr in panel_queries(board.build())
        if (board.uid, title) in core
    ]

    def empty() -> list[str]:
        return [f"{where}: {expr}" for where, expr in wanted if not prometheus.result(expr)]

    # Recording rules catch up with the traffic within a few evaluations.
    with contextlib.suppress(AssertionError):
        eventually(lambda: True if not empty() else None, what="the core panels", deadline=60)
    assert empty() == []


def metric_names(expr: str) -> set[str]:
    """The metric names an expression reads."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # strings
    expr = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # ranges
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    names = set()
    for match in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", expr):
        rest = expr[match.end() :].lstrip()
        if rest.startswith("(") or match.group().lower() in PROMQL_WORDS:
            continue  # a function or an operator
        names.add(match.group())
    return names


def exported_names(platform: RunningPlatform) -> set[str]:
    """Every metric name the services' /metrics declare, with or without samples yet."""
    names: set[str] = set()
    for service in catalog.names():
        text = httpx.get(f"{platform.url(service)}/metrics", timeout=10).text
        for family in text_string_to_metric_families(text):
            names.update(sample.name for sample in family.samples)
            if family.type == "counter":
                names.add(f"{family.name}_total")
            elif family.type == "histogram":
                names.update(f"{family.name}{s}" for s in ("_bucket", "_sum", "_count"))
            else:
                names.add(family.name)
    return names


def test_dashboards_and_rules_use_only_metrics_that_are_exported(
    platform: RunningPlatform, prometheus: Prometheus, traffic: None
) -> None:
    exported = exported_names(platform)
    scraped = set(prometheus.http.get("/api/v1/label/__name__/values").json()["data"])
    recorded = {r["record"] for g in rules.recording_groups() for r in g["rules"]}
    known = exported | recorded | NOT_FROM_MERCATO
    used: dict[str, set[str]] = {}
    for board in dashboards.boards():
        built = board.build()
        for title, expr in panel_queries(built):
            used[f"{board.title} / {title}"] = metric_names(expr)
        for variable in built["templating"]["list"]:
            if variable["type"] == "query":
                # label_values(<series selector>, <label>)
                selector = re.fullmatch(r"label_values\((.+),\s*\w+\)", variable["query"])
                assert selector is not None, variable["query"]
                used[f"{board.title} ${variable['name']}"] = metric_names(selector.group(1))
    for group in [*rules.recording_groups(), *rules.alert_groups()]:
        for rule in group["rules"]:
            used[rule.get("record") or rule["alert"]] = metric_names(rule["expr"])
    unknown = {where: names - known for where, names in used.items() if names - known}
    assert unknown == {}
    business = {
        "mercato_auth_logins_total",
        "mercato_auth_registrations_total",
        "mercato_orders_total",
        "mercato_order_value_sum",
        "mercato_payment_charges_total",
        "mercato_inventory_reservations_total",
        "mercato_inventory_low_stock_skus",
    }
    assert business <= scraped, f"not scraped: {business - scraped}"


def test_metric_names_are_found_in_expressions() -> None:
    assert metric_names(
        'histogram_quantile(0.99, sum by (le, route) (rate(a_bucket{x="y{z}"}[5m]))) '
        "or 0 * b:c:rate5m > bool 1 and on(service) up"
    ) == {"a_bucket", "b:c:rate5m", "up"}


def test_business_metrics_count_what_the_shoppers_did(
    prometheus: Prometheus, traffic: None
) -> None:
    expected = {
        "mercato_auth_registrations_total": 3,
        'mercato_auth_logins_total{result="failed"}': 3,
        'mercato_auth_logins_total{result="succeeded"}': 3,
        'mercato_orders_total{status="pending"}': 3,
        'mercato_orders_total{status="confirmed"}': 2,
        'mercato_orders_total{status="failed", reason="payment_declined"}': 1,
        'mercato_order_value_count{currency="EUR"}': 2,
        'mercato_payment_charges_total{outcome="declined"}': 1,
        'mercato_inventory_reservations_total{result="committed"}': 2,
        'mercato_inventory_reservations_total{result="released"}': 1,
        'mercato_events_consumed_total{service="user", outcome="processed"}': 3,
    }

    short: dict[str, float] = {}

    # The traffic fixture waits for the confirmed orders only: each service is scraped on
    # its own schedule, and the declined order's release and user's events come later.
    def all_counted() -> bool | None:
        totals = {e: sum(float(r["value"][1]) for r in prometheus.result(e)) for e in expected}
        short.clear()
        short.update({e: value for e, value in totals.items() if value < expected[e]})
        return True if not short else None

    with contextlib.suppress(AssertionError):
        eventually(all_counted, what="every business counter in Prometheus", deadline=60)
    assert short == {}, "counters below what the shoppers did"
