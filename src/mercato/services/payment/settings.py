"""Settings of the payment service."""

from __future__ import annotations

from pydantic import Field

from mercato.platform.settings import ServiceSettings


class Settings(ServiceSettings):
    """payment's settings: the shop's currency, the sandbox and the recovery of charges."""

    service: str = "payment"
    currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$")
    # How long the sandbox's slow card (4000000000000259) takes to answer.
    sandbox_slow_seconds: float = 10.0
    # A charge still "processing" this long after it began was interrupted (a crash, a lost
    # processor answer): the recovery job resolves it. Longer than the slowest card.
    charge_recovery_after_seconds: float = 30.0
    recovery_interval_seconds: float = 2.0
