"""What a load run shows: the live summary while it runs, the table at the end, the verdict.

Plain figures and Rich renderables, with no Locust import (importing Locust monkey-patches
the whole process with gevent), so it is tested on crafted figures.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

PERCENTILES = (0.50, 0.95, 0.99)


@dataclass(frozen=True)
class KindFigures:
    """One request kind (``GET /products/{id}``): counts, requests/s and latencies in ms."""

    kind: str
    requests: int
    failures: int
    per_second: float
    p50_ms: float
    p95_ms: float
    p99_ms: float

    @property
    def failure_ratio(self) -> float:
        """Failures over requests (0 when nothing was sent)."""
        return self.failures / self.requests if self.requests else 0.0


@dataclass(frozen=True)
class Progress:
    """The run so far: what the live summary shows."""

    elapsed_s: float
    run_time_s: float
    users: int
    total: KindFigures  # per_second is the current rate, percentiles are so far


@dataclass(frozen=True)
class Verdict:
    """Whether the run passed: something was sent, failures stayed under the threshold,
    and the shopper model raised nothing."""

    requests: int
    failures: int
    max_failure_ratio: float
    exceptions: int = 0

    @property
    def failure_ratio(self) -> float:
        """Failures over requests (0 when nothing was sent)."""
        return self.failures / self.requests if self.requests else 0.0

    @property
    def passed(self) -> bool:
        """True when the run may exit 0."""
        return (
            self.requests > 0
            and self.failure_ratio <= self.max_failure_ratio
            and self.exceptions == 0
        )

    def explain(self) -> str:
        """One sentence saying why the run passed or failed."""
        if self.requests == 0:
            return "failed: no request was sent"
        ratio = (
            f"{self.failures} failures in {self.requests} requests "
            f"({self.failure_ratio:.2%}, threshold {self.max_failure_ratio:.2%})"
        )
        if self.exceptions:
            return f"failed: the shopper model raised {self.exceptions} exceptions; {ratio}"
        if self.failure_ratio > self.max_failure_ratio:
            return f"failed: {ratio}"
        return f"passed: {ratio}"


@dataclass
class LoadSummary:
    """Everything a finished run reports; written as ``summary.json`` beside Locust's files."""

    host: str
    users: int
    spawn_rate: float
    run_time_s: float
    kinds: list[KindFigures]
    total: KindFigures
    verdict: Verdict
    checkouts: dict[str, int] = field(default_factory=dict)
    checkouts_sent: int = 0
    customers: int = 0
    started_at: str = ""

    def to_json(self) -> str:
        """The summary as indented JSON."""
        document: dict[str, Any] = asdict(self)
        document["verdict"]["passed"] = self.verdict.passed
        document["verdict"]["failure_ratio"] = self.verdict.failure_ratio
        return json.dumps(document, indent=2)


def by_kind(kinds: Iterable[KindFigures]) -> list[KindFigures]:
    """Request kinds in a stable reading order: by path, then by method."""
    return sorted(kinds, key=lambda k: (k.kind.partition(" ")[2], k.kind))


def live_summary(progress: Progress) -> RenderableType:
    """The live view: users, time, requests/s, failures and percentiles so far."""
    total = progress.total
    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    for column in ("users", "time", "requests", "req/s", "failures", "p50", "p95", "p99"):
        table.add_column(column, justify="right")
    table.add_row(
        str(progress.users),
        f"{progress.elapsed_s:.0f}/{progress.run_time_s:.0f}s",
        str(total.requests),
        f"{total.per_second:.1f}",
        _failures(total),
        *(_ms(v) for v in (total.p50_ms, total.p95_ms, total.p99_ms)),
    )
    return Group(Text("mercato load", style="bold"), table)


def progress_line(progress: Progress) -> str:
    """The live summary as one line, for output that is not a terminal."""
    total = progress.total
    return (
        f"{progress.elapsed_s:.0f}/{progress.run_time_s:.0f}s users {progress.users} "
        f"requests {total.requests} ({total.per_second:.1f}/s) failures {total.failures} "
        f"p50 {_ms(total.p50_ms)} p95 {_ms(total.p95_ms)} p99 {_ms(total.p99_ms)}"
    )


def final_table(kinds: Sequence[KindFigures], total: KindFigures) -> Table:
    """Requests/s, failures and p50/p95/p99 per request kind, then the total."""
    table = Table(title="Requests by kind", title_justify="left")
    table.add_column("request", overflow="fold")
    for column in ("requests", "failures", "req/s", "p50", "p95", "p99"):
        table.add_column(column, justify="right")
    ordered = by_kind(kinds)
    for row in [*ordered, total]:
        table.add_row(
            Text(row.kind, style="bold" if row is total else ""),
            str(row.requests),
            _failures(row),
            f"{row.per_second:.2f}",
            *(_ms(v) for v in (row.p50_ms, row.p95_ms, row.p99_ms)),
            end_section=bool(ordered) and row is ordered[-1],
        )
    return table


def checkout_line(outcomes: Mapping[str, int]) -> str:
    """How the checkouts ended: ``checkouts: 12 confirmed, 1 declined``."""
    if not outcomes:
        return "checkouts: none"
    parts = [f"{count} {outcome}" for outcome, count in sorted(outcomes.items())]
    return "checkouts: " + ", ".join(parts)


def verdict_text(verdict: Verdict) -> Text:
    """The verdict, green or red."""
    return Text(verdict.explain(), style="bold green" if verdict.passed else "bold red")


def _failures(row: KindFigures) -> Text:
    if not row.failures:
        return Text("0")
    return Text(f"{row.failures} ({row.failure_ratio:.1%})", style="red")


def _ms(value: float) -> str:
    return "-" if value != value else f"{value:.0f} ms"  # NaN before the first answer
