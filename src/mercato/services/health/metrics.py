"""What health saw, as Prometheus series: the alerts on targets being down read these."""

from __future__ import annotations

from mercato.platform.metrics import Metrics
from mercato.services.health.probes import State
from mercato.services.health.service import Target, Watchers

# Probes answer in milliseconds; the timeout (seconds) ends the scale.
PROBE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class StatusMetrics(Watchers):
    """Exports every target's state, its probes' latency and its state changes."""

    def __init__(self, metrics: Metrics) -> None:
        self.up = metrics.gauge(
            "mercato_health_target_up",
            "1 while the target answers its probe (ok or degraded), 0 while it is down.",
            ["target", "kind"],
        )
        self.state = metrics.gauge(
            "mercato_health_target_state",
            "1 for the target's current state (ok, degraded or down), 0 for the others.",
            ["target", "kind", "state"],
        )
        self.latency = metrics.histogram(
            "mercato_health_probe_duration_seconds",
            "Time a probe took, by target and kind (a timed-out probe counts its timeout).",
            ["target", "kind"],
            buckets=PROBE_BUCKETS,
        )
        self.changes = metrics.counter(
            "mercato_health_state_changes_total",
            "Times a target's state changed, by the state it changed to.",
            ["target", "kind", "state"],
        )

    def probed(self, target: Target, seconds: float, state: State) -> None:
        """Records one probe's latency and the state it found."""
        labels = {"target": target.name, "kind": target.kind.value}
        self.latency.labels(**labels).observe(seconds)
        self.up.labels(**labels).set(0 if state is State.down else 1)
        for each in State:
            self.state.labels(**labels, state=each.value).set(1 if each is state else 0)

    def changed(self, target: Target, before: State | None, after: State) -> None:
        """Counts a change of state (the first probe counts as one)."""
        self.changes.labels(target=target.name, kind=target.kind.value, state=after.value).inc()
