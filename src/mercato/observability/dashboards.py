"""Grafana dashboards as code, built with Grafana's own grafana-foundation-sdk.

Four dashboards: platform overview, service detail (``$service``, ``$namespace``),
business and event bus. Every query reads ``namespace=~"$namespace"``: on Kubernetes the
namespace is the environment; where the label is absent (compose, the local runner) the
"All" value ``.*`` still matches. The datasource is a variable, so the JSON works with
any Prometheus datasource (compose provisions one with uid ``prometheus``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from grafana_foundation_sdk.builders import (
    bargauge,
    dashboard,
    heatmap,
    prometheus,
    stat,
    table,
    timeseries,
)
from grafana_foundation_sdk.builders import (
    common as common_builders,
)
from grafana_foundation_sdk.cog.builder import Builder
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models.dashboard import (
    DataSourceRef,
    VariableHide,
    VariableOption,
    VariableRefresh,
    VariableSort,
)
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

from mercato.observability import rules

DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")
NS = 'namespace=~"$namespace"'
SVC = f'service="$service", {NS}'
RATE = "$__rate_interval"
BUSINESS_ROUTES = rules.BUSINESS
SERVICE_JOBS = f'job=~"{rules.service_jobs()}"'
HALF, THIRD, QUARTER = 12, 8, 6  # of Grafana's 24 columns


@dataclass
class Board:
    """A dashboard being built: panels in order, each row starting a new band."""

    uid: str
    title: str
    description: str
    service_variable: bool = False
    panels: list[Builder[Any]] = field(default_factory=list)
    core: list[str] = field(default_factory=list)  # titles of panels that must show data

    def row(self, title: str) -> None:
        """Starts a row."""
        self.panels.append(dashboard.Row(title).id(len(self.panels) + 1))

    def add(self, panel: Builder[Any], *, core: bool = False) -> None:
        """Adds a panel (its id follows its position)."""
        panel.id(len(self.panels) + 1)  # type: ignore[attr-defined]
        self.panels.append(panel)
        if core:
            self.core.append(panel.build().title)

    def build(self) -> dict[str, Any]:
        """The dashboard's JSON model."""
        board = (
            dashboard.Dashboard(self.title)
            .uid(self.uid)
            .description(self.description)
            .tags(["mercato"])
            .refresh("30s")
            .time("now-1h", "now")
            .timezone("browser")
            .editable()
            .with_variable(
                dashboard.DatasourceVariable("datasource").label("Data source").type("prometheus")
            )
            .with_variable(
                dashboard.QueryVariable("namespace")
                .label("Namespace")
                .datasource(DATASOURCE)
                .query("label_values(mercato_build_info, namespace)")
                .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
                .sort(VariableSort.ALPHABETICAL_ASC)
                .include_all(True)
                .all_value(".*")
                .current(VariableOption(selected=True, text="All", value="$__all"))
            )
        )
        if self.service_variable:
            board = board.with_variable(
                dashboard.QueryVariable("service")
                .label("Service")
                .datasource(DATASOURCE)
                .query(f"label_values(mercato_build_info{{{NS}}}, service)")
                .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
                .sort(VariableSort.ALPHABETICAL_ASC)
                .hide(VariableHide.DONT_HIDE)
            )
        for panel in self.panels:
            board = (
                board.with_row(panel)
                if isinstance(panel, dashboard.Row)
                else board.with_panel(panel)
            )
        model: dict[str, Any] = json.loads(json.dumps(board.build(), cls=JSONEncoder))
        return model


def query(expr: str, legend: str = "", *, ref: str = "A", instant: bool = False) -> Any:
    """A Prometheus query."""
    target = prometheus.Dataquery().expr(expr).ref_id(ref).datasource(DATASOURCE)
    if legend:
        target = target.legend_format(legend)
    if instant:
        target = target.instant().format(PromQueryFormat.TABLE)
    return target


def graph(
    title: str, unit: str, *targets: tuple[str, str], width: int = HALF, stack: bool = False
) -> Any:
    """A time series panel with one query per (expression, legend)."""
    panel = (
        timeseries.Panel()
        .title(title)
        .datasource(DATASOURCE)
        .unit(unit)
        .span(width)
        .height(8)
        .fill_opacity(10)
        .line_width(1)
        .show_points(common.VisibilityMode.NEVER)
        .legend(
            common_builders.VizLegendOptions()
            .display_mode(common.LegendDisplayMode.TABLE)
            .placement(common.LegendPlacement.BOTTOM)
            .show_legend(True)
            .calcs(["mean", "max", "lastNotNull"])
        )
    )
    if stack:
        panel = panel.stacking(common_builders.StackingConfig().mode(common.StackingMode.NORMAL))
    for index, (expr, legend) in enumerate(targets):
        panel = panel.with_target(query(expr, legend, ref=chr(ord("A") + index)))
    return panel


def single(title: str, unit: str, expr: str, *, width: int = QUARTER, decimals: int = 2) -> Any:
    """A stat panel showing one number."""
    return (
        stat.Panel()
        .title(title)
        .datasource(DATASOURCE)
        .unit(unit)
        .decimals(decimals)
        .span(width)
        .height(4)
        .graph_mode(common.BigValueGraphMode.AREA)
        .color_mode(common.BigValueColorMode.VALUE)
        .with_target(query(expr))
    )


def listing(title: str, expr: str, *, width: int = HALF, description: str = "") -> Any:
    """A table of an instant query."""
    panel = (
        table.Panel()
        .title(title)
        .datasource(DATASOURCE)
        .span(width)
        .height(8)
        .with_target(query(expr, instant=True))
    )
    return panel.description(description) if description else panel


# -- platform overview ---------------------------------------------------------------


def _budget_remaining(errors: str, total: str, budget: float) -> str:
    """The share of a 30-day error budget left (1 = untouched, below 0 = overspent)."""
    ratio = f"(({errors}) or 0 * ({total})) / ({total})"
    return f"1 - {ratio} / {budget:g}"


def platform_overview() -> Board:
    """RED of every service, error budgets, the slowest routes and what is down."""
    board = Board(
        "mercato-overview",
        "Mercato / Platform overview",
        "Every service at a glance: traffic, errors, latency, error budgets, what is down.",
    )
    gateway = f'service="gateway", {NS}, {BUSINESS_ROUTES}'
    checkout = f"{rules.CHECKOUT}, {NS}"
    board.row("Health")
    board.add(
        single(
            "Services up",
            "none",
            f"sum(up{{{SERVICE_JOBS}, {NS}}}) or vector(0)",
            decimals=0,
        )
    )
    board.add(
        single(
            "Gateway error budget left (30 d, 99.9 %)",
            "percentunit",
            _budget_remaining(
                f'sum(rate(mercato_http_requests_total{{{gateway}, status=~"5.."}}[30d]))',
                f"sum(rate(mercato_http_requests_total{{{gateway}}}[30d]))",
                1 - rules.GATEWAY_AVAILABILITY_OBJECTIVE,
            ),
        )
    )
    board.add(
        single(
            "Checkout latency budget left (30 d, 99 % < 1 s)",
            "percentunit",
            "1 - (1 - sum(rate(mercato_http_request_duration_seconds_bucket"
            f'{{{checkout}, le="{rules.CHECKOUT_LATENCY_THRESHOLD}"}}[30d])) / '
            f"sum(rate(mercato_http_request_duration_seconds_count{{{checkout}}}[30d]))) / "
            f"{1 - rules.CHECKOUT_LATENCY_OBJECTIVE:g}",
        )
    )
    board.add(
        single(
            "Requests per second",
            "reqps",
            f"sum(service:mercato_http_requests:rate5m{{{NS}}})",
        )
    )
    board.add(
        listing(
            "What is down",
            f"up{{{SERVICE_JOBS}, {NS}}} == 0",
            width=HALF,
            description="Service instances Prometheus cannot scrape; empty when all is well.",
        )
    )
    board.add(
        listing(
            "Not ok, as the health service sees it",
            f'max by (kind, target, state) (mercato_health_target_state{{state!="ok", {NS}}}) == 1',
            width=HALF,
            description="Services and engines whose last probe found them degraded or down.",
        )
    )
    board.add(
        listing(
            "Builds",
            f"max by (namespace, service, version, commit, env) (mercato_build_info{{{NS}}})",
            width=HALF,
            description="Version and commit of every running service.",
        ),
        core=True,
    )
    board.row("Rate, errors, duration")
    board.add(
        graph(
            "Request rate by service",
            "reqps",
            (
                f"sum by (service) (service:mercato_http_requests:rate5m{{{NS}}})",
                "{{service}}",
            ),
            width=THIRD,
        ),
        core=True,
    )
    board.add(
        graph(
            "Error ratio (5xx) by service",
            "percentunit",
            (
                f"max by (service) (service:mercato_http_error_ratio:rate5m{{{NS}}})",
                "{{service}}",
            ),
            width=THIRD,
        ),
        core=True,
    )
    board.add(
        graph(
            "p99 latency by service",
            "s",
            (
                f"max by (service) (service:mercato_http_request_duration_seconds:p99_5m{{{NS}}})",
                "{{service}}",
            ),
            width=THIRD,
        ),
        core=True,
    )
    board.row("Slowest routes")
    board.add(
        listing(
            "Top 10 slow routes (p99, 5 m)",
            "topk(10, max by (service, route, method) "
            f"(service_route:mercato_http_request_duration_seconds:p99_5m{{{NS}}}))",
            width=HALF,
        )
    )
    board.add(
        listing(
            "Top 10 busy routes (requests/s, 5 m)",
            "topk(10, sum by (service, route, method) "
            f"(service_route:mercato_http_requests:rate5m{{{NS}}}))",
            width=HALF,
        )
    )
    return board


# -- service detail -----------------------------------------------------------------


def service_detail() -> Board:
    """One service: RED by route, latency heatmap, pool, upstreams, events, resources."""
    board = Board(
        "mercato-service",
        "Mercato / Service detail",
        "One service in depth; pick it with $service (and the environment with $namespace).",
        service_variable=True,
    )
    own = f"{SVC}, {BUSINESS_ROUTES}"
    board.row("Rate, errors, duration by route")
    board.add(
        graph(
            "Requests by route",
            "reqps",
            (
                f"sum by (method, route) (rate(mercato_http_requests_total{{{own}}}[{RATE}]))",
                "{{method}} {{route}}",
            ),
        ),
        core=True,
    )
    board.add(
        graph(
            "Answers by status",
            "reqps",
            (
                f"sum by (status) (rate(mercato_http_requests_total{{{own}}}[{RATE}]))",
                "{{status}}",
            ),
            stack=True,
        )
    )
    board.add(
        graph(
            "Latency percentiles",
            "s",
            *(
                (f"service:mercato_http_request_duration_seconds:p{q}_5m{{{SVC}}}", f"p{q}")
                for q in ("50", "95", "99")
            ),
        ),
        core=True,
    )
    board.add(
        graph(
            "p99 latency by route",
            "s",
            (
                "histogram_quantile(0.99, sum by (method, route, le) (rate("
                f"mercato_http_request_duration_seconds_bucket{{{own}}}[{RATE}])))",
                "{{method}} {{route}}",
            ),
        )
    )
    board.add(
        heatmap.Panel()
        .title("Latency heatmap")
        .datasource(DATASOURCE)
        .span(HALF)
        .height(8)
        .with_target(
            prometheus.Dataquery()
            .expr(
                "sum by (le) (increase(mercato_http_request_duration_seconds_bucket"
                f"{{{own}}}[{RATE}]))"
            )
            .format(PromQueryFormat.HEATMAP)
            .legend_format("{{le}}")
            .ref_id("A")
            .datasource(DATASOURCE)
        )
    )
    board.add(
        graph(
            "Requests in flight",
            "none",
            (f"sum(mercato_http_requests_in_flight{{{SVC}}})", "in flight"),
        )
    )
    board.row("Database pool")
    board.add(
        graph(
            "Connections",
            "none",
            (f"sum(mercato_db_pool_in_use{{{SVC}}})", "in use"),
            (f"sum(mercato_db_pool_size{{{SVC}}})", "pool size"),
        )
    )
    board.add(
        graph(
            "Wait for a connection (p95)",
            "s",
            (
                "histogram_quantile(0.95, sum by (le) "
                f"(rate(mercato_db_pool_wait_seconds_bucket{{{SVC}}}[{RATE}])))",
                "p95",
            ),
        )
    )
    board.row("Calls to other services")
    board.add(
        graph(
            "Calls by upstream and status",
            "reqps",
            (
                "sum by (upstream, status) "
                f"(rate(mercato_http_client_requests_total{{{SVC}}}[{RATE}]))",
                "{{upstream}} {{status}}",
            ),
        )
    )
    board.add(
        graph(
            "Call latency by upstream (p99)",
            "s",
            (
                "histogram_quantile(0.99, sum by (upstream, le) "
                f"(rate(mercato_http_client_duration_seconds_bucket{{{SVC}}}[{RATE}])))",
                "{{upstream}}",
            ),
        )
    )
    board.row("Events")
    board.add(
        graph(
            "Outbox",
            "none",
            (f"max(mercato_outbox_backlog{{{SVC}}})", "backlog"),
            (f"max(mercato_outbox_oldest_age_seconds{{{SVC}}})", "oldest unpublished (s)"),
            width=THIRD,
        )
    )
    board.add(
        graph(
            "Published by type",
            "ops",
            (
                f"sum by (type) (rate(mercato_outbox_published_total{{{SVC}}}[{RATE}]))",
                "{{type}}",
            ),
            (
                f"sum(rate(mercato_outbox_publish_failures_total{{{SVC}}}[{RATE}]))",
                "failures",
            ),
            width=THIRD,
        )
    )
    board.add(
        graph(
            "Consumed by type and outcome",
            "ops",
            (
                f"sum by (type, outcome) (rate(mercato_events_consumed_total{{{SVC}}}[{RATE}]))",
                "{{type}} {{outcome}}",
            ),
            (
                f"sum(rate(mercato_events_redelivered_total{{{SVC}}}[{RATE}]))",
                "redelivered",
            ),
            (f"max(mercato_events_consumer_pending{{{SVC}}})", "pending"),
            width=THIRD,
        )
    )
    board.row("CPU and memory")
    container = f'container="$service", {NS}'
    board.add(
        graph(
            "CPU (cores)",
            "none",
            (
                f"sum by (instance) (rate(process_cpu_seconds_total{{{SVC}}}[{RATE}]))",
                "{{instance}}",
            ),
            (
                f'max(kube_pod_container_resource_requests{{{container}, resource="cpu"}})',
                "request",
            ),
            (f'max(kube_pod_container_resource_limits{{{container}, resource="cpu"}})', "limit"),
        )
    )
    board.add(
        graph(
            "Memory",
            "bytes",
            (f"sum by (instance) (process_resident_memory_bytes{{{SVC}}})", "RSS {{instance}}"),
            (
                f"max by (pod) (container_memory_working_set_bytes{{{container}}})",
                "working set {{pod}}",
            ),
            (
                f'max(kube_pod_container_resource_requests{{{container}, resource="memory"}})',
                "request",
            ),
            (
                f'max(kube_pod_container_resource_limits{{{container}, resource="memory"}})',
                "limit",
            ),
        )
    )
    return board


# -- business -------------------------------------------------------------------------


def business() -> Board:
    """Orders, revenue, payments, the checkout funnel, stock, reviews."""
    board = Board(
        "mercato-business",
        "Mercato / Business",
        "What the shop sells: orders, revenue, payments, the checkout funnel, low stock.",
    )
    board.row("Sales")
    board.add(
        graph(
            "Orders per minute by status",
            "none",
            (
                f"sum by (status) (rate(mercato_orders_total{{{NS}}}[{RATE}])) * 60",
                "{{status}}",
            ),
            width=THIRD,
        )
    )
    board.add(
        graph(
            "Revenue per hour (confirmed orders)",
            "none",
            (
                f"sum by (currency) (rate(mercato_order_value_sum{{{NS}}}[{RATE}])) * 3600",
                "{{currency}}",
            ),
            width=THIRD,
        )
    )
    board.add(
        graph(
            "Average order value",
            "none",
            (
                f"sum by (currency) (rate(mercato_order_value_sum{{{NS}}}[{RATE}])) / "
                f"sum by (currency) (rate(mercato_order_value_count{{{NS}}}[{RATE}]))",
                "{{currency}}",
            ),
            width=THIRD,
        )
    )
    board.row("Payments and checkout")
    board.add(
        single(
            "Payment success ratio",
            "percentunit",
            f'sum(rate(mercato_payment_charges_total{{{NS}, outcome="succeeded"}}[$__range])) / '
            f"sum(rate(mercato_payment_charges_total{{{NS}}}[$__range]))",
        )
    )
    board.add(
        single(
            "Checkout failures of ours (15 m)",
            "percentunit",
            f"max(namespace:mercato_checkout_failure:ratio_rate15m{{{NS}}})",
        )
    )
    board.add(
        single(
            "Payment declines (15 m)",
            "percentunit",
            f"max(namespace:mercato_payment_decline:ratio_rate15m{{{NS}}})",
        )
    )
    board.add(
        single(
            "Low-stock SKUs",
            "none",
            f"max(mercato_inventory_low_stock_skus{{{NS}}})",
            decimals=0,
        )
    )
    funnel = (
        bargauge.Panel()
        .title("Checkout funnel (time range)")
        .description("Accounts made, logins, cart changes, checkouts started, orders confirmed.")
        .datasource(DATASOURCE)
        .unit("none")
        .decimals(0)
        .span(HALF)
        .height(8)
        .orientation(common.VizOrientation.HORIZONTAL)
    )
    cart = (
        f'service="order", {NS}, route="/api/v1/cart/items/{{product_id}}", method="PUT", '
        'status="200"'
    )
    steps = [
        (f"sum(increase(mercato_auth_registrations_total{{{NS}}}[$__range]))", "registered"),
        (
            f'sum(increase(mercato_auth_logins_total{{{NS}, result="succeeded"}}[$__range]))',
            "logged in",
        ),
        (f"sum(increase(mercato_http_requests_total{{{cart}}}[$__range]))", "cart changes"),
        (
            f'sum(increase(mercato_orders_total{{{NS}, status="pending"}}[$__range]))',
            "checkouts",
        ),
        (
            f'sum(increase(mercato_orders_total{{{NS}, status="confirmed"}}[$__range]))',
            "confirmed",
        ),
    ]
    for index, (expr, legend) in enumerate(steps):
        funnel = funnel.with_target(query(expr, legend, ref=chr(ord("A") + index)).instant())
    board.add(funnel)
    board.add(
        graph(
            "Failed checkouts by reason",
            "none",
            (
                "sum by (reason) (increase(mercato_orders_total"
                f'{{{NS}, status="failed"}}[{RATE}]))',
                "{{reason}}",
            ),
            stack=True,
        )
    )
    board.add(
        graph(
            "Payments by outcome",
            "ops",
            (
                f"sum by (outcome) (rate(mercato_payment_charges_total{{{NS}}}[{RATE}]))",
                "{{outcome}}",
            ),
        )
    )
    board.add(
        graph(
            "Logins by result",
            "ops",
            (
                f"sum by (result) (rate(mercato_auth_logins_total{{{NS}}}[{RATE}]))",
                "{{result}}",
            ),
            (f"sum(rate(mercato_auth_registrations_total{{{NS}}}[{RATE}]))", "registrations"),
        )
    )
    board.row("Stock")
    board.add(
        graph(
            "Reservations by result",
            "ops",
            (
                f"sum by (result) (rate(mercato_inventory_reservations_total{{{NS}}}[{RATE}]))",
                "{{result}}",
            ),
        )
    )
    board.add(
        graph(
            "Low-stock SKUs",
            "none",
            (f"max(mercato_inventory_low_stock_skus{{{NS}}})", "below their threshold"),
        )
    )
    board.row("Reviews")
    board.add(
        graph(
            "Reviews by change, refusals by reason",
            "ops",
            (
                f"sum by (change) (rate(mercato_review_changes_total{{{NS}}}[{RATE}]))",
                "{{change}}",
            ),
            (
                f"sum by (reason) (rate(mercato_review_refusals_total{{{NS}}}[{RATE}]))",
                "refused: {{reason}}",
            ),
        )
    )
    return board


# -- event bus ------------------------------------------------------------------------


def event_bus() -> Board:
    """Throughput into and out of the stream, consumers, outboxes."""
    board = Board(
        "mercato-events",
        "Mercato / Event bus",
        "Events through NATS JetStream, as the outbox relays and the consumers see them.",
    )
    board.row("Throughput")
    board.add(
        graph(
            "Published into the stream by type",
            "ops",
            (
                f"sum by (type) (rate(mercato_outbox_published_total{{{NS}}}[{RATE}]))",
                "{{type}}",
            ),
            stack=True,
        )
    )
    board.add(
        graph(
            "Processed by consumer and type",
            "ops",
            (
                "sum by (service, type) (rate(mercato_events_consumed_total"
                f'{{{NS}, outcome="processed"}}[{RATE}]))',
                "{{service}} {{type}}",
            ),
            stack=True,
        )
    )
    board.row("Consumers")
    board.add(
        graph(
            "Pending on each consumer",
            "none",
            (f"max by (service) (mercato_events_consumer_pending{{{NS}}})", "{{service}}"),
            width=THIRD,
        )
    )
    board.add(
        graph(
            "Redeliveries",
            "ops",
            (
                f"sum by (service, type) (rate(mercato_events_redelivered_total{{{NS}}}[{RATE}]))",
                "{{service}} {{type}}",
            ),
            width=THIRD,
        )
    )
    board.add(
        graph(
            "Outcomes other than processed",
            "ops",
            (
                "sum by (service, outcome) (rate(mercato_events_consumed_total"
                f'{{{NS}, outcome!="processed"}}[{RATE}]))',
                "{{service}} {{outcome}}",
            ),
            width=THIRD,
        )
    )
    board.row("Outboxes")
    board.add(
        graph(
            "Outbox backlog per service",
            "none",
            (f"max by (service) (mercato_outbox_backlog{{{NS}}})", "{{service}}"),
            width=THIRD,
        ),
        core=True,
    )
    board.add(
        graph(
            "Oldest unpublished event",
            "s",
            (f"max by (service) (mercato_outbox_oldest_age_seconds{{{NS}}})", "{{service}}"),
            width=THIRD,
        )
    )
    board.add(
        graph(
            "Relay failures",
            "ops",
            (
                f"sum by (service) (rate(mercato_outbox_publish_failures_total{{{NS}}}[{RATE}]))",
                "{{service}}",
            ),
            width=THIRD,
        )
    )
    return board


def boards() -> list[Board]:
    """Every dashboard."""
    return [platform_overview(), service_detail(), business(), event_bus()]


def files() -> dict[str, str]:
    """File name under deploy/monitoring/grafana/dashboards to JSON text."""
    return {
        f"{b.uid.removeprefix('mercato-')}.json": json.dumps(b.build(), indent=2) + "\n"
        for b in boards()
    }
