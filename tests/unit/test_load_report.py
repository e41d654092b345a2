"""The load run's summary, table, verdict and checkout outcomes, on crafted figures.

None of this imports Locust (which would monkey-patch the test process with gevent).
"""

from __future__ import annotations

import json
import sys

from rich.console import Console

from mercato.load import report
from mercato.load.ledger import (
    CONFIRMED,
    DECLINED,
    OUT_OF_STOCK,
    PENDING,
    Ledger,
    checkout_outcome,
)


def figures(kind: str, requests: int, failures: int = 0, rps: float = 1.0) -> report.KindFigures:
    return report.KindFigures(kind, requests, failures, rps, 12.0, 40.0, 95.0)


def rendered(renderable: object, width: int = 140) -> str:
    console = Console(width=width, record=True, color_system=None)
    console.print(renderable)
    return console.export_text()


KINDS = [
    figures("POST /orders", 10, 1, 0.5),
    figures("GET /products", 300, 0, 15.0),
    figures("GET /products/{id}", 1000, 2, 50.0),
    figures("GET /cart", 200, 0, 10.0),
]
TOTAL = report.KindFigures("total", 1510, 3, 75.5, 10.0, 60.0, 120.0)


def test_the_final_table_has_a_row_per_request_kind_then_the_total():
    text = rendered(report.final_table(KINDS, TOTAL))

    lines = [line for line in text.splitlines() if line.startswith("│")]
    names = [line.split("│")[1].strip() for line in lines]
    assert names == [
        "GET /cart",
        "POST /orders",
        "GET /products",
        "GET /products/{id}",
        "total",
    ]
    orders = next(line for line in lines if "POST /orders" in line)
    cells = [cell.strip() for cell in orders.split("│")[1:-1]]
    assert cells == ["POST /orders", "10", "1 (10.0%)", "0.50", "12 ms", "40 ms", "95 ms"]
    total = next(line for line in lines if "total" in line)
    assert [cell.strip() for cell in total.split("│")[1:-1]] == [
        "total",
        "1510",
        "3 (0.2%)",
        "75.50",
        "10 ms",
        "60 ms",
        "120 ms",
    ]


def test_the_live_summary_shows_users_time_rate_failures_and_percentiles_so_far():
    progress = report.Progress(elapsed_s=42.4, run_time_s=120, users=10, total=TOTAL)

    text = rendered(report.live_summary(progress))
    assert "42/120s" in text
    assert "75.5" in text
    assert "3 (0.2%)" in text
    for value in ("10 ms", "60 ms", "120 ms"):
        assert value in text
    line = report.progress_line(progress)
    assert line == (
        "42/120s users 10 requests 1510 (75.5/s) failures 3 p50 10 ms p95 60 ms p99 120 ms"
    )


def test_percentiles_read_as_a_dash_before_the_first_answer():
    nothing = report.KindFigures("total", 0, 0, 0.0, float("nan"), float("nan"), float("nan"))
    progress = report.Progress(elapsed_s=1, run_time_s=20, users=1, total=nothing)

    assert report.progress_line(progress).endswith("p50 - p95 - p99 -")


def test_a_run_passes_when_failures_stay_at_or_under_the_threshold():
    at_threshold = report.Verdict(requests=1000, failures=10, max_failure_ratio=0.01)
    assert at_threshold.passed
    assert at_threshold.explain() == (
        "passed: 10 failures in 1000 requests (1.00%, threshold 1.00%)"
    )


def test_a_run_fails_over_the_threshold_with_nothing_sent_or_with_exceptions():
    over = report.Verdict(requests=1000, failures=11, max_failure_ratio=0.01)
    assert not over.passed
    assert over.explain().startswith("failed: 11 failures in 1000 requests (1.10%")
    silent = report.Verdict(requests=0, failures=0, max_failure_ratio=0.01)
    assert not silent.passed
    assert silent.explain() == "failed: no request was sent"
    broken = report.Verdict(requests=50, failures=0, max_failure_ratio=0.01, exceptions=2)
    assert not broken.passed
    assert "raised 2 exceptions" in broken.explain()


def test_the_summary_json_carries_every_kind_and_the_verdict():
    summary = report.LoadSummary(
        host="http://127.0.0.1:8080",
        users=5,
        spawn_rate=5,
        run_time_s=20,
        kinds=report.by_kind(KINDS),
        total=TOTAL,
        verdict=report.Verdict(requests=1510, failures=3, max_failure_ratio=0.01),
        checkouts={CONFIRMED: 9, DECLINED: 1},
        customers=5,
    )

    document = json.loads(summary.to_json())
    assert [k["kind"] for k in document["kinds"]][:2] == ["GET /cart", "POST /orders"]
    assert document["verdict"]["passed"] is True
    assert document["verdict"]["failure_ratio"] == 3 / 1510
    assert document["checkouts"] == {"confirmed": 9, "declined": 1}
    assert report.checkout_line(summary.checkouts) == "checkouts: 9 confirmed, 1 declined"
    assert report.checkout_line({}) == "checkouts: none"


def test_a_checkout_outcome_must_fit_the_card_it_was_paid_with():
    confirmed = {"status": "confirmed", "failure": None}
    declined = {"status": "failed", "failure": {"reason": "payment_declined", "detail": {}}}
    sold_out = {"status": "failed", "failure": {"reason": "out_of_stock", "detail": {}}}

    assert checkout_outcome(201, confirmed, declined=False) == CONFIRMED
    assert checkout_outcome(201, declined, declined=True) == DECLINED
    assert checkout_outcome(201, sold_out, declined=False) == OUT_OF_STOCK
    assert checkout_outcome(201, sold_out, declined=True) == OUT_OF_STOCK
    assert checkout_outcome(202, {"status": "pending"}, declined=False) == PENDING
    # Wrong answers: a good card declined, a declined card charged, odd statuses.
    assert checkout_outcome(201, declined, declined=False) is None
    assert checkout_outcome(201, confirmed, declined=True) is None
    assert checkout_outcome(200, confirmed, declined=False) is None
    assert checkout_outcome(202, confirmed, declined=False) is None


def test_the_ledger_keeps_customers_and_counts_checkouts_by_outcome():
    ledger = Ledger()
    ledger.record({"customer": {"email": "a@load.mercato.dev", "id": "1"}})
    for _ in range(4):
        ledger.record({"checkout_sent": 1})
    ledger.record({"checkout": CONFIRMED})
    ledger.record({"checkout": CONFIRMED})
    ledger.record({"checkout": DECLINED})

    assert ledger.customers == [{"email": "a@load.mercato.dev", "id": "1"}]
    assert ledger.checkouts == {CONFIRMED: 2, DECLINED: 1}
    assert ledger.checkouts_sent == 4


def test_the_report_code_does_not_bring_locust_into_the_process():
    assert "locust" not in sys.modules
    assert "gevent" not in sys.modules
