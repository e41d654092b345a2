"""Response bodies of the status API."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from mercato.services.health.probes import State
from mercato.services.health.service import Observation, PlatformStatus


class TargetStatus(BaseModel):
    """One service's or engine's state: what the last probe found, and since when."""

    name: str
    status: State
    latency_ms: float
    checked_at: datetime
    since: datetime

    @classmethod
    def of(cls, observation: Observation) -> TargetStatus:
        """The public view of what the board saw."""
        return cls(
            name=observation.name,
            status=observation.status,
            latency_ms=observation.latency_ms,
            checked_at=observation.checked_at,
            since=observation.since,
        )


class StatusPublic(BaseModel):
    """The platform's state: overall, per service and per engine."""

    status: State
    services: list[TargetStatus]
    engines: list[TargetStatus]

    @classmethod
    def of(cls, status: PlatformStatus) -> StatusPublic:
        """The public view of the board."""
        return cls(
            status=status.status,
            services=[TargetStatus.of(o) for o in status.services],
            engines=[TargetStatus.of(o) for o in status.engines],
        )
