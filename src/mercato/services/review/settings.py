"""Settings of the review service."""

from __future__ import annotations

from mercato.platform.settings import ServiceSettings


class Settings(ServiceSettings):
    """review's settings."""

    service: str = "review"
