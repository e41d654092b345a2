"""Settings of the analytics service."""

from __future__ import annotations

from pydantic import Field

from mercato.platform.settings import ServiceSettings


class Settings(ServiceSettings):
    """analytics' settings: the shop's currency and how long a report may reach."""

    service: str = "analytics"
    # Revenue is reported in the shop's one currency (product refuses prices in any other).
    currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$")
    # A report covers at most this many days: the answer stays one bounded page.
    max_report_days: int = Field(default=366, ge=1)
    # Without ``from``, a report ends ``to`` (today by default) and covers this many days.
    default_report_days: int = Field(default=30, ge=1)
