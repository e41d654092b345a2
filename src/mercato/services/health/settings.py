"""Settings of the health service."""

from __future__ import annotations

from pydantic import Field, model_validator

from mercato.platform.settings import ServiceSettings


class Settings(ServiceSettings):
    """health's settings: how often it probes, how long a probe may take, where the engines are."""

    service: str = "health"
    probe_interval_seconds: float = Field(default=5.0, gt=0)
    # Below the interval, so that one slow target never delays the next round.
    probe_timeout_seconds: float = Field(default=2.0, gt=0)
    # Engine name -> address; the scheme picks the probe (ADR 0034): postgresql://host:port
    # (a startup packet, answered as pg_isready reads it), nats://host:port (the server's
    # INFO line), smtp://host:port (its greeting), http(s)://... (an HTTP health endpoint).
    # Filled by the runner and the Kubernetes generator; probes need no credentials.
    engine_probes: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _timeout_below_interval(self) -> Settings:
        if self.probe_timeout_seconds >= self.probe_interval_seconds:
            raise ValueError(
                "MERCATO_PROBE_TIMEOUT_SECONDS must be below MERCATO_PROBE_INTERVAL_SECONDS"
            )
        return self
