"""Prometheus metrics: the chassis' own and a one-liner for each service's.

Label sets stay bounded: routes are templates (``/api/v1/users/{user_id}``), never raw
paths; unmatched requests share one label. Every name starts with ``mercato_`` and every
series carries ``service``; docs/observability.md has the conventions.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import ProcessCollector as _ProcessCollector

# Suited to 1 ms to 10 s.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
UNMATCHED_ROUTE = "__unmatched__"
METRIC_NAME = re.compile(r"mercato_[a-z0-9_]+")
# Prometheus adds these to every series it scrapes; a metric of ours must not use them.
RESERVED_LABELS = frozenset({"service", "job", "instance", "namespace", "pod", "le", "quantile"})


class Metrics:
    """One process's metrics registry, with the chassis' standard series."""

    def __init__(self, service: str, *, version: str, commit: str, env: str) -> None:
        self.service = service
        self.registry = CollectorRegistry(auto_describe=True)
        _ProcessCollector(registry=self.registry)
        self.build_info = self.gauge(
            "mercato_build_info", "Build of the running service.", ["version", "commit", "env"]
        )
        self.build_info.labels(version=version, commit=commit, env=env).set(1)
        self.http_requests = self.counter(
            "mercato_http_requests_total",
            "HTTP requests served, by route template, method and status.",
            ["route", "method", "status"],
        )
        self.http_latency = self.histogram(
            "mercato_http_request_duration_seconds",
            "Time to serve an HTTP request, by route template and method.",
            ["route", "method"],
        )
        self.http_in_flight = self.gauge(
            "mercato_http_requests_in_flight", "HTTP requests being served."
        )

    def counter(
        self,
        name: str,
        doc: str,
        labels: list[str] | None = None,
        *,
        known: Mapping[str, Iterable[str]] | None = None,
    ) -> Labelled:
        """Registers a counter; the ``service`` label is filled in for you.

        ``known`` lists label values to export at zero from the start, so that ``rate()``
        sees the first event and a dashboard shows 0 rather than "no data".
        """
        _check(name, labels, counter=True)
        metric = Counter(name, doc, ["service", *(labels or [])], registry=self.registry)
        return Labelled(metric, self.service).preset(known)

    def gauge(self, name: str, doc: str, labels: list[str] | None = None) -> Labelled:
        """Registers a gauge; the ``service`` label is filled in for you."""
        _check(name, labels)
        return Labelled(
            Gauge(name, doc, ["service", *(labels or [])], registry=self.registry), self.service
        )

    def histogram(
        self,
        name: str,
        doc: str,
        labels: list[str] | None = None,
        buckets: tuple[float, ...] = LATENCY_BUCKETS,
        *,
        known: Mapping[str, Iterable[str]] | None = None,
    ) -> Labelled:
        """Registers a histogram; the ``service`` label is filled in for you."""
        _check(name, labels)
        metric = Histogram(
            name, doc, ["service", *(labels or [])], registry=self.registry, buckets=buckets
        )
        return Labelled(metric, self.service).preset(known)

    def exposition(self) -> tuple[bytes, str]:
        """The registry in the Prometheus text format, with its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class Labelled:
    """A metric whose ``service`` label is already filled in.

    ``labels(...)`` takes the remaining labels; a metric without further labels can be
    used directly (``inc``, ``set``, ``observe``).
    """

    def __init__(self, metric: Counter | Gauge | Histogram, service: str) -> None:
        self._metric = metric
        self._service = service

    def labels(self, **labels: str) -> Any:
        """The child series for ``labels``."""
        return self._metric.labels(service=self._service, **labels)

    def preset(self, known: Mapping[str, Iterable[str]] | None) -> Labelled:
        """Creates the child of every combination of ``known`` label values (at zero)."""
        if known:
            names = list(known)
            for values in itertools.product(*(tuple(known[n]) for n in names)):
                self.labels(**dict(zip(names, values, strict=True)))
        return self

    def __getattr__(self, name: str) -> Any:
        return getattr(self._metric.labels(service=self._service), name)


def _check(name: str, labels: list[str] | None, *, counter: bool = False) -> None:
    """Refuses names and labels that break the conventions (docs/observability.md)."""
    if not METRIC_NAME.fullmatch(name):
        raise ValueError(f"metric {name!r}: names are snake_case and start with 'mercato_'")
    if counter and not name.endswith("_total"):
        raise ValueError(f"counter {name!r}: counter names end with '_total'")
    clashing = RESERVED_LABELS.intersection(labels or [])
    if clashing:
        raise ValueError(f"metric {name!r}: labels {sorted(clashing)} are reserved")
