"""Prometheus metrics: the chassis' own and a one-liner for each service's.

Label sets stay bounded: routes are templates (``/api/v1/users/{user_id}``), never raw
paths; unmatched requests share one label.
"""

from __future__ import annotations

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

    def counter(self, name: str, doc: str, labels: list[str] | None = None) -> Labelled:
        """Registers a counter; the ``service`` label is filled in for you."""
        return Labelled(
            Counter(name, doc, ["service", *(labels or [])], registry=self.registry), self.service
        )

    def gauge(self, name: str, doc: str, labels: list[str] | None = None) -> Labelled:
        """Registers a gauge; the ``service`` label is filled in for you."""
        return Labelled(
            Gauge(name, doc, ["service", *(labels or [])], registry=self.registry), self.service
        )

    def histogram(
        self,
        name: str,
        doc: str,
        labels: list[str] | None = None,
        buckets: tuple[float, ...] = LATENCY_BUCKETS,
    ) -> Labelled:
        """Registers a histogram; the ``service`` label is filled in for you."""
        metric = Histogram(
            name, doc, ["service", *(labels or [])], registry=self.registry, buckets=buckets
        )
        return Labelled(metric, self.service)

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

    def __getattr__(self, name: str) -> Any:
        return getattr(self._metric.labels(service=self._service), name)
