"""The status board: probes every target on an interval and keeps what it last saw.

The overall rule (ADR 0034): the platform is ``down`` when the gateway (nobody gets in)
or PostgreSQL (nothing can be kept) is down, ``degraded`` when anything else is not ok,
and ``ok`` otherwise.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from mercato.services.health.probes import Probe, State

log = logging.getLogger("mercato.health")

ESSENTIAL_SERVICES = frozenset({"gateway"})
ESSENTIAL_ENGINES = frozenset({"postgres"})


class Kind(StrEnum):
    """What a target is."""

    service = "service"
    engine = "engine"


@dataclass(frozen=True)
class Target:
    """Something health probes: a catalog service's /ready or an engine."""

    name: str
    kind: Kind
    probe: Probe

    @property
    def essential(self) -> bool:
        """Its being down takes the whole platform down."""
        essential = ESSENTIAL_SERVICES if self.kind is Kind.service else ESSENTIAL_ENGINES
        return self.name in essential


@dataclass(frozen=True)
class Observation:
    """A target's current state: what its last probe found and since when it holds."""

    name: str
    kind: Kind
    status: State
    latency_ms: float
    checked_at: datetime
    since: datetime


@dataclass(frozen=True)
class PlatformStatus:
    """Everything the board knows, at one moment."""

    status: State
    services: list[Observation]
    engines: list[Observation]


class Watchers:
    """Hooks told of every probe and every state change (the service's metrics)."""

    def probed(self, target: Target, seconds: float, state: State) -> None:
        """Called after every probe."""

    def changed(self, target: Target, before: State | None, after: State) -> None:
        """Called when a target's state changes (``before`` is None at the first probe)."""


class StatusBoard:
    """Probes the targets concurrently, every interval, and answers what it saw."""

    def __init__(
        self,
        targets: Iterable[Target],
        *,
        interval: float,
        timeout: float,
        watchers: Watchers | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.targets = list(targets)
        self.interval = interval
        self.timeout = timeout
        self.watchers = watchers or Watchers()
        self._clock = clock
        self._seen: dict[tuple[Kind, str], Observation] = {}

    async def probe_all(self) -> None:
        """One round: every target probed at once, each bounded by the timeout."""
        await asyncio.gather(*(self._probe(t) for t in self.targets))

    async def watch_forever(self) -> None:
        """Probes a round every interval (after the first), for as long as the service runs."""
        loop = asyncio.get_running_loop()
        due = loop.time() + self.interval
        while True:
            await asyncio.sleep(max(0.0, due - loop.time()))
            # The timeout is below the interval, so a round always ends before the next is due.
            due += self.interval
            await self.probe_all()

    def current(self) -> PlatformStatus:
        """The state of every target as last seen, and the platform's overall state."""
        services = [self._seen[(t.kind, t.name)] for t in self._of(Kind.service)]
        engines = [self._seen[(t.kind, t.name)] for t in self._of(Kind.engine)]
        return PlatformStatus(overall(self.targets, self._seen), services, engines)

    def _of(self, kind: Kind) -> list[Target]:
        return [t for t in self.targets if t.kind is kind and (t.kind, t.name) in self._seen]

    async def _probe(self, target: Target) -> None:
        began = time.perf_counter()
        reason = ""
        try:
            state = await asyncio.wait_for(target.probe(), self.timeout)
        except Exception as exc:  # refused, reset, timed out, garbage: it does not answer
            state = State.down
            reason = f"{type(exc).__name__}: {exc}".strip(": ")
        seconds = time.perf_counter() - began
        now = self._clock()
        before = self._seen.get((target.kind, target.name))
        since = before.since if before is not None and before.status is state else now
        self._seen[(target.kind, target.name)] = Observation(
            name=target.name,
            kind=target.kind,
            status=state,
            latency_ms=round(seconds * 1000, 1),
            checked_at=now,
            since=since,
        )
        self.watchers.probed(target, seconds, state)
        if before is None or before.status is not state:
            self.watchers.changed(target, before.status if before else None, state)
            # The first round meets services still starting: only a change is worth a warning.
            worrying = before is not None and state is not State.ok
            log.log(
                logging.WARNING if worrying else logging.INFO,
                "%s %s is %s",
                target.kind.value,
                target.name,
                state.value,
                extra={"target": target.name, "kind": target.kind.value, "reason": reason},
            )


def overall(targets: Iterable[Target], seen: dict[tuple[Kind, str], Observation]) -> State:
    """Down if an essential target is down, degraded if any target is not ok, else ok."""
    worst = State.ok
    for target in targets:
        observed = seen.get((target.kind, target.name))
        if observed is None or observed.status is State.ok:
            continue
        if observed.status is State.down and target.essential:
            return State.down
        worst = State.degraded
    return worst
