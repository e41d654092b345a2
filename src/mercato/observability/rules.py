"""Prometheus recording and alert rules: the one source of the rule files and PrometheusRules.

Series are aggregated ``by (namespace, service)``: on Kubernetes the namespace is the
environment (mercato-dev, -stg, -prod), locally it is absent and drops out. Request
metrics leave out the chassis' own routes (/health, /ready, /metrics), which probes and
scrapes would otherwise dominate.

Every alert carries ``severity`` (``critical`` pages, ``warning`` opens a ticket), a
``summary``, a ``description`` and a ``runbook_url`` to ``docs/runbooks/<alert>.md``.
Annotations template labels only (never ``$value``), so the promtool unit tests can
state them exactly; the dashboards show the numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mercato import catalog

RUNBOOK_BASE = "https://github.com/mercato/mercato/blob/main/docs/runbooks/"
CHASSIS_ROUTES = "/health|/ready|/metrics"
BUSINESS = f'route!~"{CHASSIS_ROUTES}"'
REQUESTS = "mercato_http_requests_total"
DURATION = "mercato_http_request_duration_seconds"

# SLOs, with the multi-window, multi-burn-rate alerts of the Google SRE workbook (ch. 5):
# a page when 2 % of a 30-day budget burns in 1 h or 5 % in 6 h, a ticket for 10 % in
# 3 d; each long window paired with a short one so the alert also ends quickly.
GATEWAY_AVAILABILITY_OBJECTIVE = 0.999
CHECKOUT_LATENCY_OBJECTIVE = 0.99
CHECKOUT_LATENCY_THRESHOLD = "1.0"  # seconds: a bucket boundary of the latency histogram
CHECKOUT = 'service="order", route="/api/v1/orders", method="POST"'
FAST_BURN = ((14.4, "1h", "5m"), (6.0, "6h", "30m"))
SLOW_BURN = ((3.0, "1d", "2h"), (1.0, "3d", "6h"))
SLO_WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")

# Kubernetes series (kube-state-metrics, cAdvisor) of Mercato's namespaces only.
MERCATO_NAMESPACES = 'namespace=~"mercato-.*"'


@dataclass(frozen=True)
class Alert:
    """One alert rule; its runbook is docs/runbooks/<name>.md."""

    name: str
    expr: str
    severity: str
    summary: str
    description: str
    for_: str = "0m"

    @property
    def runbook_url(self) -> str:
        """Where the runbook is published."""
        return f"{RUNBOOK_BASE}{self.name}.md"

    def rule(self) -> dict[str, Any]:
        """The rule as Prometheus reads it."""
        rule: dict[str, Any] = {"alert": self.name, "expr": self.expr}
        if self.for_ != "0m":
            rule["for"] = self.for_
        rule["labels"] = {"severity": self.severity}
        rule["annotations"] = {
            "summary": self.summary,
            "description": self.description,
            "runbook_url": self.runbook_url,
        }
        return rule


def record(name: str, expr: str) -> dict[str, str]:
    """One recording rule."""
    return {"record": name, "expr": expr}


def service_jobs() -> str:
    """A regex of the scrape jobs of every catalog service (job = service name)."""
    return "|".join(catalog.names())


# -- recording rules -------------------------------------------------------------------


def red_rules() -> list[dict[str, str]]:
    """Rate, errors and latency per service, and per route for the slowest-routes panel."""
    rules = [
        record(
            "service:mercato_http_requests:rate5m",
            f"sum by (namespace, service) (rate({REQUESTS}{{{BUSINESS}}}[5m]))",
        ),
        # "or 0 *": a service without a single 5xx yet still has an error rate, of 0.
        record(
            "service:mercato_http_errors:rate5m",
            f'sum by (namespace, service) (rate({REQUESTS}{{{BUSINESS}, status=~"5.."}}[5m]))'
            " or 0 * service:mercato_http_requests:rate5m",
        ),
        record(
            "service:mercato_http_error_ratio:rate5m",
            "service:mercato_http_errors:rate5m / service:mercato_http_requests:rate5m",
        ),
    ]
    for quantile in ("50", "95", "99"):
        rules.append(
            record(
                f"service:{DURATION}:p{quantile}_5m",
                f"histogram_quantile(0.{quantile}, sum by (namespace, service, le) "
                f"(rate({DURATION}_bucket{{{BUSINESS}}}[5m])))",
            )
        )
    rules += [
        record(
            "service_route:mercato_http_requests:rate5m",
            f"sum by (namespace, service, route, method) (rate({REQUESTS}{{{BUSINESS}}}[5m]))",
        ),
        record(
            f"service_route:{DURATION}:p99_5m",
            "histogram_quantile(0.99, sum by (namespace, service, route, method, le) "
            f"(rate({DURATION}_bucket{{{BUSINESS}}}[5m])))",
        ),
    ]
    return rules


def slo_rules() -> list[dict[str, str]]:
    """Error ratios of the two SLOs over every window their burn-rate alerts use."""
    rules = []
    gateway = f'service="gateway", {BUSINESS}'
    for window in SLO_WINDOWS:
        total = f"sum by (namespace) (rate({REQUESTS}{{{gateway}}}[{window}]))"
        errors = f'sum by (namespace) (rate({REQUESTS}{{{gateway}, status=~"5.."}}[{window}]))'
        rules.append(
            record(
                f"slo:gateway_availability_errors:ratio_rate{window}",
                f"({errors} or 0 * {total}) / {total}",
            )
        )
    for window in SLO_WINDOWS:
        fast = (
            f"sum by (namespace) (rate({DURATION}_bucket{{{CHECKOUT}, "
            f'le="{CHECKOUT_LATENCY_THRESHOLD}"}}[{window}]))'
        )
        total = f"sum by (namespace) (rate({DURATION}_count{{{CHECKOUT}}}[{window}]))"
        rules.append(
            record(f"slo:checkout_latency_slow:ratio_rate{window}", f"1 - {fast} / {total}")
        )
    return rules


def business_rules() -> list[dict[str, str]]:
    """Orders, checkout failures and payment declines per environment."""
    finished = 'status=~"confirmed|failed"'
    return [
        record(
            "namespace_status:mercato_orders:rate5m",
            "sum by (namespace, status) (rate(mercato_orders_total[5m]))",
        ),
        # Declined cards and sold-out stock are the shop working as it should; the
        # payment decline spike and the low-stock panel watch those.
        record(
            "namespace:mercato_checkout_failure:ratio_rate15m",
            '(sum by (namespace) (rate(mercato_orders_total{status="failed", '
            'reason!~"payment_declined|out_of_stock"}[15m])) or 0 * sum by (namespace) '
            f"(rate(mercato_orders_total{{{finished}}}[15m]))) / sum by (namespace) "
            f"(rate(mercato_orders_total{{{finished}}}[15m]))",
        ),
        record(
            "namespace:mercato_payment_decline:ratio_rate15m",
            'sum by (namespace) (rate(mercato_payment_charges_total{outcome="declined"}[15m]))'
            " / sum by (namespace) (rate(mercato_payment_charges_total[15m]))",
        ),
    ]


# -- alerts ------------------------------------------------------------------------------


WHERE = "{{ $labels.service }}"


def service_alerts() -> list[Alert]:
    """Down, failing, slow, short of database connections."""
    busy = "service:mercato_http_requests:rate5m > 0.1"
    return [
        Alert(
            "MercatoServiceDown",
            f'up{{job=~"{service_jobs()}"}} == 0',
            "critical",
            f"{WHERE} is down",
            "Prometheus could not scrape {{ $labels.instance }} of {{ $labels.service }} "
            "for 2 minutes: the process is gone, hung, or unreachable.",
            "2m",
        ),
        Alert(
            "MercatoHighErrorRatio",
            f"service:mercato_http_error_ratio:rate5m > 0.05 and {busy}",
            "critical",
            f"{WHERE} answers more than 5 % of requests with a 5xx",
            "Over the last 5 minutes more than 5 % of the requests {{ $labels.service }} "
            "served ended in a server error.",
            "5m",
        ),
        Alert(
            "MercatoHighLatency",
            f"service:{DURATION}:p99_5m > 2.5 and {busy}",
            "warning",
            f"{WHERE} is slow: p99 latency over 2.5 s",
            "The 99th percentile of {{ $labels.service }}'s request latency has been above "
            "2.5 s for 10 minutes.",
            "10m",
        ),
        Alert(
            "MercatoDBPoolSaturated",
            "max by (namespace, service) (mercato_db_pool_in_use / mercato_db_pool_size) > 0.9"
            " or histogram_quantile(0.95, sum by (namespace, service, le) "
            "(rate(mercato_db_pool_wait_seconds_bucket[5m]))) > 0.1",
            "warning",
            f"{WHERE} is running out of database connections",
            "For 10 minutes {{ $labels.service }} has used over 90 % of its connection pool, "
            "or waited over 100 ms (p95) for a connection.",
            "10m",
        ),
    ]


def _burn(series: str, pairs: tuple[tuple[float, str, str], ...], budget: float) -> str:
    return " or ".join(
        f"({series}{long} > {factor * budget:.6g} and {series}{short} > {factor * budget:.6g})"
        for factor, long, short in pairs
    )


def slo_alerts() -> list[Alert]:
    """Error budget burn of gateway availability (99.9 %) and checkout latency (99 % < 1 s)."""
    availability = "slo:gateway_availability_errors:ratio_rate"
    latency = "slo:checkout_latency_slow:ratio_rate"
    error_budget = round(1 - GATEWAY_AVAILABILITY_OBJECTIVE, 6)
    latency_budget = round(1 - CHECKOUT_LATENCY_OBJECTIVE, 6)
    return [
        Alert(
            "MercatoGatewayErrorBudgetBurnFast",
            _burn(availability, FAST_BURN, error_budget),
            "critical",
            "The gateway burns its 99.9 % availability budget fast",
            "5xx answers at the gateway are using up the 30-day error budget at 6 to 14 "
            "times the sustainable rate: at this pace it is gone in days.",
            "2m",
        ),
        Alert(
            "MercatoGatewayErrorBudgetBurnSlow",
            _burn(availability, SLOW_BURN, error_budget),
            "warning",
            "The gateway burns its 99.9 % availability budget steadily",
            "5xx answers at the gateway have used the 30-day error budget at 1 to 3 times "
            "the sustainable rate for hours.",
            "15m",
        ),
        Alert(
            "MercatoCheckoutLatencyBudgetBurnFast",
            _burn(latency, FAST_BURN, latency_budget),
            "critical",
            "Checkouts are slow: the 99 % under 1 s budget burns fast",
            "Too many checkouts (POST /api/v1/orders) take longer than 1 s: the 30-day "
            "latency budget burns at 6 to 14 times the sustainable rate.",
            "2m",
        ),
        Alert(
            "MercatoCheckoutLatencyBudgetBurnSlow",
            _burn(latency, SLOW_BURN, latency_budget),
            "warning",
            "Checkouts are slow: the 99 % under 1 s budget burns steadily",
            "More than 1 % of checkouts have taken longer than 1 s for hours.",
            "15m",
        ),
    ]


def event_alerts() -> list[Alert]:
    """The outbox relay and the consumers."""
    return [
        Alert(
            "MercatoOutboxBacklogGrowing",
            "(max by (namespace, service) (mercato_outbox_backlog) > 50 and max by "
            "(namespace, service) (deriv(mercato_outbox_backlog[10m])) > 0) or max by "
            "(namespace, service) (mercato_outbox_oldest_age_seconds) > 300",
            "warning",
            f"{WHERE} is not getting its events out",
            "{{ $labels.service }}'s outbox keeps growing, or its oldest unpublished event is "
            "over 5 minutes old: other services see its changes late.",
            "10m",
        ),
        Alert(
            "MercatoOutboxPublishFailing",
            "sum by (namespace, service) (rate(mercato_outbox_publish_failures_total[5m])) > 0",
            "warning",
            f"{WHERE} fails to publish events to NATS",
            "The outbox relay of {{ $labels.service }} has failed to publish for 10 minutes.",
            "10m",
        ),
        Alert(
            "MercatoConsumerLagging",
            "max by (namespace, service) (mercato_events_consumer_pending) > 100",
            "warning",
            f"{WHERE} falls behind on events",
            "More than 100 events have waited on {{ $labels.service }}'s JetStream consumer "
            "for 10 minutes.",
            "10m",
        ),
        Alert(
            "MercatoConsumerRedeliveries",
            "sum by (namespace, service, type) (rate(mercato_events_redelivered_total[10m]))"
            " > 0.05",
            "warning",
            f"{WHERE} gets {{{{ $labels.type }}}} events redelivered",
            "{{ $labels.type }} events reach {{ $labels.service }} more than once, over 3 "
            "times a minute: its handler fails or runs past the ack deadline.",
            "10m",
        ),
        Alert(
            "MercatoEventsDeadLettered",
            "sum by (namespace, service, type) (increase(mercato_events_consumed_total"
            '{outcome=~"failed|malformed"}[15m])) > 0',
            "warning",
            f"{WHERE} gave up on {{{{ $labels.type }}}} events",
            "{{ $labels.service }} dropped {{ $labels.type }} events after their last delivery "
            "(or could not parse them): their effect is missing until someone replays them.",
        ),
    ]


def analytics_alerts() -> list[Alert]:
    """analytics, whose reports go stale silently when its consumer counts nothing."""
    return [
        Alert(
            "MercatoAnalyticsNotCounting",
            'sum by (namespace) (increase(mercato_outbox_published_total{service="order", '
            'type="order.confirmed"}[30m])) > 0 unless on (namespace) sum by (namespace) '
            '(increase(mercato_events_consumed_total{service="analytics", '
            'type="order.confirmed", outcome="processed"}[30m])) > 0',
            "warning",
            "analytics counts no confirmed orders while order confirms them",
            "order published order.confirmed events in the last 30 minutes but analytics "
            "processed none: the sales reports are going stale.",
            "15m",
        ),
    ]


def kubernetes_alerts() -> list[Alert]:
    """Restarts and memory of Mercato's containers (kube-state-metrics and cAdvisor)."""
    pod = "{{ $labels.namespace }}/{{ $labels.pod }}"
    return [
        Alert(
            "MercatoContainerRestarting",
            "sum by (namespace, pod, container) (increase("
            f"kube_pod_container_status_restarts_total{{{MERCATO_NAMESPACES}}}[15m])) > 2",
            "warning",
            f"Container {{{{ $labels.container }}}} of {pod} keeps restarting",
            "{{ $labels.container }} restarted more than twice in 15 minutes.",
        ),
        Alert(
            "MercatoContainerMemoryNearLimit",
            "max by (namespace, pod, container) (container_memory_working_set_bytes"
            f'{{{MERCATO_NAMESPACES}, container!="", container!="POD"}}) / max by '
            "(namespace, pod, container) (kube_pod_container_resource_limits"
            f'{{{MERCATO_NAMESPACES}, resource="memory"}}) > 0.9',
            "warning",
            f"Container {{{{ $labels.container }}}} of {pod} is near its memory limit",
            "{{ $labels.container }} has used over 90 % of its memory limit for 15 minutes; "
            "the kernel kills it at 100 %.",
            "15m",
        ),
    ]


REFUSED_BUYERS = 'mercato_review_refusals_total{reason="not_a_buyer"}'


def business_alerts() -> list[Alert]:
    """Payment declines, failing checkouts, buyers refused their reviews."""
    return [
        Alert(
            "MercatoPaymentDeclineSpike",
            "namespace:mercato_payment_decline:ratio_rate15m > 0.3 and sum by (namespace) "
            "(increase(mercato_payment_charges_total[15m])) >= 10",
            "warning",
            "Over 30 % of card payments are declined",
            "Over the last 15 minutes more than 30 % of at least 10 charges were declined.",
            "5m",
        ),
        Alert(
            "MercatoCheckoutFailureRatio",
            "namespace:mercato_checkout_failure:ratio_rate15m > 0.05 and sum by (namespace) "
            '(increase(mercato_orders_total{status=~"confirmed|failed"}[15m])) >= 10',
            "critical",
            "Over 5 % of checkouts fail for reasons of ours",
            "Over the last 15 minutes more than 5 % of finished checkouts failed for another "
            "reason than a declined card or missing stock: timeouts, expired reservations, "
            "a payment service that refused.",
            "10m",
        ),
        Alert(
            "MercatoReviewBuyersRefused",
            f"sum by (namespace) (increase({REFUSED_BUYERS}[30m])) / (sum by (namespace) "
            f"(increase({REFUSED_BUYERS}[30m])) + sum by (namespace) (increase("
            'mercato_review_changes_total{change="created"}[30m]))) > 0.5 and sum by '
            f"(namespace) (increase({REFUSED_BUYERS}[30m])) >= 10",
            "warning",
            "Most reviews are refused as not coming from a buyer",
            "Over the last 30 minutes more than half of at least 10 reviews were refused "
            "with 403 not-a-verified-buyer: review's projection of order's events is "
            "probably not fed, and real buyers cannot review.",
            "15m",
        ),
    ]


def mail_alerts() -> list[Alert]:
    """notification's mail queue: mail that does not leave, mail given up."""
    return [
        Alert(
            "MercatoMailPilingUp",
            "max by (namespace, service) "
            "(mercato_notification_mail_oldest_pending_age_seconds) > 900",
            "warning",
            f"{WHERE} cannot deliver its mail",
            "The oldest email queued by {{ $labels.service }} has waited over 15 minutes for "
            "10 minutes: the SMTP relay is down, refuses us or defers everything.",
            "10m",
        ),
        Alert(
            "MercatoMailGivenUp",
            "sum by (namespace, service) "
            "(increase(mercato_notification_mail_failed_total[1h])) > 0",
            "warning",
            f"{WHERE} gave up on emails",
            "{{ $labels.service }} stopped trying to deliver some emails in the last hour: the "
            "relay refused them repeatedly, or they stayed undeliverable for days.",
        ),
    ]


def log_alerts() -> list[Alert]:
    """The audit trail's integrity and the central logs' completeness."""
    return [
        Alert(
            "MercatoAuditChainBroken",
            "min by (namespace) (mercato_audit_chain_valid) == 0",
            "critical",
            "The audit trail's hash chain is broken",
            "The log service's verification found an audit record altered or removed in its "
            "database: the trail can no longer be trusted past the first broken record.",
        ),
        Alert(
            "MercatoLogRecordsDropped",
            "sum by (namespace, service) (increase(mercato_log_records_dropped_total[10m])) > 0",
            "warning",
            "{{ $labels.service }} cannot ship its log records",
            "{{ $labels.service }} dropped log records for 15 minutes: the log service (or the "
            "collector in front of it) is down, slow or refusing, and central search misses them.",
            "15m",
        ),
    ]


def health_alerts() -> list[Alert]:
    """What the health service sees: a service or an engine down, or degraded for long.

    Aggregated over health's replicas with ``max``/``min``, so an alert needs every prober
    to agree (one prober cut off by the network does not page).
    """
    target = "{{ $labels.kind }} {{ $labels.target }}"
    by = "by (namespace, kind, target)"
    return [
        Alert(
            "MercatoHealthTargetDown",
            f"max {by} (mercato_health_target_up) == 0",
            "critical",
            f"The health service sees {target} down",
            f"For 3 minutes every probe of {target} has gone unanswered (refused, reset or "
            "timed out): the process or the engine is gone, frozen or unreachable.",
            "3m",
        ),
        Alert(
            "MercatoHealthTargetDegraded",
            f'min {by} (mercato_health_target_state{{state="degraded"}}) == 1',
            "warning",
            f"The health service sees {target} degraded",
            f"For 10 minutes {target} has answered its probe but not as ready: a service's "
            "/ready names the dependency that fails; an engine refuses connections for now.",
            "10m",
        ),
    ]


def alerts() -> list[Alert]:
    """Every alert, in file order."""
    return [
        *service_alerts(),
        *slo_alerts(),
        *event_alerts(),
        *analytics_alerts(),
        *kubernetes_alerts(),
        *business_alerts(),
        *mail_alerts(),
        *log_alerts(),
        *health_alerts(),
    ]


def recording_groups() -> list[dict[str, Any]]:
    """deploy/monitoring/prometheus/recording.yml."""
    return [
        {"name": "mercato-red", "rules": red_rules()},
        {"name": "mercato-slo", "rules": slo_rules()},
        {"name": "mercato-business", "rules": business_rules()},
    ]


def alert_groups() -> list[dict[str, Any]]:
    """deploy/monitoring/prometheus/alerts.yml."""
    return [
        {"name": "mercato-services", "rules": [a.rule() for a in service_alerts()]},
        {"name": "mercato-slo-alerts", "rules": [a.rule() for a in slo_alerts()]},
        {"name": "mercato-events", "rules": [a.rule() for a in event_alerts()]},
        {"name": "mercato-analytics", "rules": [a.rule() for a in analytics_alerts()]},
        {"name": "mercato-kubernetes", "rules": [a.rule() for a in kubernetes_alerts()]},
        {"name": "mercato-business-alerts", "rules": [a.rule() for a in business_alerts()]},
        {"name": "mercato-mail", "rules": [a.rule() for a in mail_alerts()]},
        {"name": "mercato-log", "rules": [a.rule() for a in log_alerts()]},
        {"name": "mercato-health", "rules": [a.rule() for a in health_alerts()]},
    ]


def rule_files() -> dict[str, dict[str, Any]]:
    """Rule file name to content: deploy/monitoring, the runner and the PrometheusRules."""
    return {
        "recording.yml": {"groups": recording_groups()},
        "alerts.yml": {"groups": alert_groups()},
    }
