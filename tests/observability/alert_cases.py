"""For every alert: series that make it fire, and healthy series on which it stays silent.

Series use promtool's notation (``a+bxN``: start at a, add b per minute, N more samples;
``_`` a missing sample). Each case is evaluated once with the firing series (the alert
must fire with exactly ``labels``) and once with the healthy ones (no alert at all).
"""

from __future__ import annotations

from dataclasses import dataclass

NS = 'namespace="mercato-prod"'
ORDER = f'{NS}, service="order", job="order", instance="10.0.0.7:8080"'
CHECKOUT = f'{ORDER}, route="/api/v1/orders", method="POST"'
GATEWAY = f'{NS}, service="gateway", job="gateway", instance="10.0.0.5:8080"'
PROXIED = f'{GATEWAY}, route="/api/v1/orders/*", method="POST"'
USER = f'{NS}, service="user", job="user", instance="10.0.0.6:8080"'
PAYMENT = f'{NS}, service="payment", job="payment", instance="10.0.0.8:8080"'
NOTIFICATION = f'{NS}, service="notification", job="notification", instance="10.0.0.10:8080"'
REVIEW = f'{NS}, service="review", job="review", instance="10.0.0.9:8080"'
ANALYTICS = f'{NS}, service="analytics", job="analytics", instance="10.0.0.10:8080"'
CONFIRMED = 'type="order.confirmed"'
LOG = f'{NS}, service="log", job="log", instance="10.0.0.11:8080"'
HEALTH_A = f'{NS}, service="health", job="health", instance="10.0.0.13:8080"'
HEALTH_B = f'{NS}, service="health", job="health", instance="10.0.0.14:8080"'
PROBED_ORDER = 'kind="service", target="order"'
POD = f'{NS}, pod="order-7d9f8c6b5-x2x4q", container="order"'


@dataclass(frozen=True)
class Case:
    """One alert's firing and healthy inputs."""

    alert: str
    eval_time: str
    labels: dict[str, str]  # the alert's labels (severity comes from the rule)
    firing: dict[str, str]  # series -> values
    healthy: dict[str, str]


def _buckets(selector: str, counts: dict[str, int], minutes: int) -> dict[str, str]:
    """Histogram bucket series growing by ``counts`` (cumulative, per le) each minute."""
    series = {
        f'mercato_http_request_duration_seconds_bucket{{{selector}, le="{le}"}}': (
            f"0+{per_minute}x{minutes}"
        )
        for le, per_minute in counts.items()
    }
    total = counts["+Inf"]
    series[f"mercato_http_request_duration_seconds_count{{{selector}}}"] = f"0+{total}x{minutes}"
    return series


CASES = [
    Case(
        "MercatoServiceDown",
        "6m",
        {
            "namespace": "mercato-prod",
            "service": "order",
            "job": "order",
            "instance": "10.0.0.7:8080",
        },
        {f"up{{{ORDER}}}": "1 1 0x10"},
        {f"up{{{ORDER}}}": "1x12", f'up{{{NS}, job="kube-state-metrics"}}': "0x12"},
    ),
    Case(
        "MercatoHighErrorRatio",
        "20m",
        {"namespace": "mercato-prod", "service": "order"},
        {
            f'mercato_http_requests_total{{{CHECKOUT}, status="201"}}': "0+60x30",
            f'mercato_http_requests_total{{{CHECKOUT}, status="500"}}': "0+6x30",
        },
        {
            f'mercato_http_requests_total{{{CHECKOUT}, status="201"}}': "0+60x30",
            f'mercato_http_requests_total{{{CHECKOUT}, status="500"}}': "0+1x30",
            # Probes failing are no user's errors: the chassis routes are left out.
            f'mercato_http_requests_total{{{ORDER}, route="/ready", method="GET", '
            'status="503"}': "0+60x30",
        },
    ),
    Case(
        "MercatoHighLatency",
        "20m",
        {"namespace": "mercato-prod", "service": "order"},
        {
            f'mercato_http_requests_total{{{CHECKOUT}, status="201"}}': "0+60x30",
            **_buckets(CHECKOUT, {"0.5": 10, "1.0": 10, "2.5": 10, "5.0": 60, "+Inf": 60}, 30),
        },
        {
            f'mercato_http_requests_total{{{CHECKOUT}, status="201"}}': "0+60x30",
            **_buckets(CHECKOUT, {"0.5": 55, "1.0": 60, "2.5": 60, "5.0": 60, "+Inf": 60}, 30),
        },
    ),
    Case(
        "MercatoDBPoolSaturated",
        "15m",
        {"namespace": "mercato-prod", "service": "order"},
        {
            f"mercato_db_pool_in_use{{{ORDER}}}": "10x20",
            f"mercato_db_pool_size{{{ORDER}}}": "10x20",
        },
        {f"mercato_db_pool_in_use{{{ORDER}}}": "3x20", f"mercato_db_pool_size{{{ORDER}}}": "10x20"},
    ),
    Case(
        "MercatoGatewayErrorBudgetBurnFast",
        "10m",
        {"namespace": "mercato-prod"},
        {
            f'mercato_http_requests_total{{{PROXIED}, status="201"}}': "0+600x20",
            f'mercato_http_requests_total{{{PROXIED}, status="502"}}': "0+60x20",
        },
        {
            f'mercato_http_requests_total{{{PROXIED}, status="201"}}': "0+600x20",
            f'mercato_http_requests_total{{{PROXIED}, status="429"}}': "0+60x20",
        },
    ),
    Case(
        "MercatoGatewayErrorBudgetBurnSlow",
        "3h",
        {"namespace": "mercato-prod"},
        # 0.5 % errors: three times the 0.1 % budget, below the fast burn's 1.44 %.
        {
            f'mercato_http_requests_total{{{PROXIED}, status="201"}}': "0+597x200",
            f'mercato_http_requests_total{{{PROXIED}, status="503"}}': "0+3x200",
        },
        {
            f'mercato_http_requests_total{{{PROXIED}, status="201"}}': "0+5999x200",
            f'mercato_http_requests_total{{{PROXIED}, status="503"}}': "0+1x200",
        },
    ),
    Case(
        "MercatoCheckoutLatencyBudgetBurnFast",
        "10m",
        {"namespace": "mercato-prod"},
        _buckets(CHECKOUT, {"1.0": 48, "+Inf": 60}, 20),
        _buckets(CHECKOUT, {"1.0": 60, "+Inf": 60}, 20),
    ),
    Case(
        "MercatoCheckoutLatencyBudgetBurnSlow",
        "3h",
        {"namespace": "mercato-prod"},
        # 5 % slow: five times the 1 % budget, below the fast burn's 6 % and 14.4 %.
        _buckets(CHECKOUT, {"1.0": 57, "+Inf": 60}, 200),
        _buckets(CHECKOUT, {"1.0": 1000, "+Inf": 1001}, 200),
    ),
    Case(
        "MercatoOutboxBacklogGrowing",
        "20m",
        {"namespace": "mercato-prod", "service": "order"},
        {f"mercato_outbox_backlog{{{ORDER}}}": "0+10x30"},
        {
            f"mercato_outbox_backlog{{{ORDER}}}": "5x30",
            f"mercato_outbox_oldest_age_seconds{{{ORDER}}}": "1x30",
        },
    ),
    Case(
        "MercatoOutboxPublishFailing",
        "20m",
        {"namespace": "mercato-prod", "service": "order"},
        {f"mercato_outbox_publish_failures_total{{{ORDER}}}": "0+1x30"},
        {f"mercato_outbox_publish_failures_total{{{ORDER}}}": "0x30"},
    ),
    Case(
        "MercatoConsumerLagging",
        "15m",
        {"namespace": "mercato-prod", "service": "user"},
        {f"mercato_events_consumer_pending{{{USER}}}": "500x20"},
        {f"mercato_events_consumer_pending{{{USER}}}": "3x20"},
    ),
    Case(
        "MercatoConsumerRedeliveries",
        "25m",
        {"namespace": "mercato-prod", "service": "user", "type": "user.registered"},
        {f'mercato_events_redelivered_total{{{USER}, type="user.registered"}}': "0+10x40"},
        {f'mercato_events_redelivered_total{{{USER}, type="user.registered"}}': "0+1x40"},
    ),
    Case(
        "MercatoEventsDeadLettered",
        "10m",
        {"namespace": "mercato-prod", "service": "user", "type": "user.registered"},
        {
            f'mercato_events_consumed_total{{{USER}, type="user.registered", '
            'outcome="failed"}': "0x5 1x10",
        },
        {
            f'mercato_events_consumed_total{{{USER}, type="user.registered", '
            'outcome="failed"}': "0x15",
            f'mercato_events_consumed_total{{{USER}, type="user.registered", '
            'outcome="processed"}': "0+10x15",
        },
    ),
    Case(
        "MercatoAnalyticsNotCounting",
        "40m",
        {"namespace": "mercato-prod"},
        {
            f"mercato_outbox_published_total{{{ORDER}, {CONFIRMED}}}": "0+2x45",
            # analytics' count of confirmed orders stands still while order confirms more.
            f'mercato_events_consumed_total{{{ANALYTICS}, {CONFIRMED}, outcome="processed"}}': (
                "5x45"
            ),
        },
        {
            f"mercato_outbox_published_total{{{ORDER}, {CONFIRMED}}}": "0+2x45",
            f'mercato_events_consumed_total{{{ANALYTICS}, {CONFIRMED}, outcome="processed"}}': (
                "0+2x45"
            ),
        },
    ),
    Case(
        "MercatoContainerRestarting",
        "10m",
        {"namespace": "mercato-prod", "pod": "order-7d9f8c6b5-x2x4q", "container": "order"},
        {f"kube_pod_container_status_restarts_total{{{POD}}}": "0+1x20"},
        {
            f"kube_pod_container_status_restarts_total{{{POD}}}": "0x20",
            # Someone else's namespace is someone else's alert.
            'kube_pod_container_status_restarts_total{namespace="kube-system", '
            'pod="coredns-1", container="coredns"}': "0+1x20",
        },
    ),
    Case(
        "MercatoContainerMemoryNearLimit",
        "20m",
        {"namespace": "mercato-prod", "pod": "order-7d9f8c6b5-x2x4q", "container": "order"},
        {
            f"container_memory_working_set_bytes{{{POD}}}": "250000000x30",
            f'kube_pod_container_resource_limits{{{POD}, resource="memory", '
            'unit="byte"}': "268435456x30",
        },
        {
            f"container_memory_working_set_bytes{{{POD}}}": "100000000x30",
            f'kube_pod_container_resource_limits{{{POD}, resource="memory", '
            'unit="byte"}': "268435456x30",
        },
    ),
    Case(
        "MercatoPaymentDeclineSpike",
        "25m",
        {"namespace": "mercato-prod"},
        {
            f'mercato_payment_charges_total{{{PAYMENT}, outcome="succeeded"}}': "0+2x30",
            f'mercato_payment_charges_total{{{PAYMENT}, outcome="declined"}}': "0+2x30",
        },
        {
            f'mercato_payment_charges_total{{{PAYMENT}, outcome="succeeded"}}': "0+9x30",
            f'mercato_payment_charges_total{{{PAYMENT}, outcome="declined"}}': "0+1x30",
        },
    ),
    Case(
        "MercatoCheckoutFailureRatio",
        "30m",
        {"namespace": "mercato-prod"},
        {
            f'mercato_orders_total{{{ORDER}, status="confirmed"}}': "0+9x40",
            f'mercato_orders_total{{{ORDER}, status="failed", reason="timed_out"}}': "0+1x40",
        },
        {
            f'mercato_orders_total{{{ORDER}, status="confirmed"}}': "0+9x40",
            # Declined cards are the shop working: the decline spike alert watches those.
            f'mercato_orders_total{{{ORDER}, status="failed", reason="payment_declined"}}': (
                "0+5x40"
            ),
        },
    ),
    Case(
        "MercatoReviewBuyersRefused",
        "50m",
        {"namespace": "mercato-prod"},
        {
            f'mercato_review_changes_total{{{REVIEW}, change="created"}}': "0+0x60",
            f'mercato_review_refusals_total{{{REVIEW}, reason="not_a_buyer"}}': "0+1x60",
        },
        {
            # Someone trying to review what they did not buy, among many who did.
            f'mercato_review_changes_total{{{REVIEW}, change="created"}}': "0+3x60",
            f'mercato_review_refusals_total{{{REVIEW}, reason="not_a_buyer"}}': "0+1x60",
        },
    ),
    Case(
        "MercatoMailPilingUp",
        "30m",
        {"namespace": "mercato-prod", "service": "notification"},
        # The relay went away at minute 0: the oldest mail ages by a minute every minute.
        {f"mercato_notification_mail_oldest_pending_age_seconds{{{NOTIFICATION}}}": "0+60x30"},
        # Mail flows: now and then one waits a few seconds for the sender.
        {f"mercato_notification_mail_oldest_pending_age_seconds{{{NOTIFICATION}}}": "0 3 0 1x27"},
    ),
    Case(
        "MercatoMailGivenUp",
        "20m",
        {"namespace": "mercato-prod", "service": "notification"},
        {
            f'mercato_notification_mail_failed_total{{{NOTIFICATION}, reason="refused"}}': (
                "0x10 1x10"
            ),
        },
        {f'mercato_notification_mail_failed_total{{{NOTIFICATION}, reason="refused"}}': "0x20"},
    ),
    Case(
        "MercatoAuditChainBroken",
        "10m",
        {"namespace": "mercato-prod"},
        {f"mercato_audit_chain_valid{{{LOG}}}": "1x5 0x5"},
        {f"mercato_audit_chain_valid{{{LOG}}}": "1x10"},
    ),
    Case(
        "MercatoLogRecordsDropped",
        "30m",
        {"namespace": "mercato-prod", "service": "order"},
        {f'mercato_log_records_dropped_total{{{ORDER}, reason="undelivered"}}': "0+50x30"},
        {f'mercato_log_records_dropped_total{{{ORDER}, reason="undelivered"}}': "0x30"},
    ),
    Case(
        "MercatoHealthTargetDown",
        "8m",
        {"namespace": "mercato-prod", "kind": "service", "target": "order"},
        {
            f"mercato_health_target_up{{{HEALTH_A}, {PROBED_ORDER}}}": "1 1 0x10",
            f"mercato_health_target_up{{{HEALTH_B}, {PROBED_ORDER}}}": "1 1 0x10",
        },
        {
            # One prober cut off from order while the other still reaches it: no page.
            f"mercato_health_target_up{{{HEALTH_A}, {PROBED_ORDER}}}": "1 1 0x10",
            f"mercato_health_target_up{{{HEALTH_B}, {PROBED_ORDER}}}": "1x12",
        },
    ),
    Case(
        "MercatoHealthTargetDegraded",
        "15m",
        {"namespace": "mercato-prod", "kind": "service", "target": "order"},
        {
            f'mercato_health_target_state{{{HEALTH_A}, {PROBED_ORDER}, state="degraded"}}': (
                "0 0 1x20"
            ),
        },
        {
            # Degraded for less than ten minutes, then ok again.
            f'mercato_health_target_state{{{HEALTH_A}, {PROBED_ORDER}, state="degraded"}}': (
                "0 0 1x5 0x14"
            ),
        },
    ),
]
