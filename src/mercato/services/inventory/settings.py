"""Settings of the inventory service."""

from __future__ import annotations

from mercato.platform.settings import ServiceSettings


class Settings(ServiceSettings):
    """inventory's settings: reservation lifetimes, the sweeper's pace, the low-stock default."""

    service: str = "inventory"
    reservation_ttl_seconds: int = 900
    reservation_max_ttl_seconds: int = 3600
    sweep_interval_seconds: float = 5.0
    sweep_batch_size: int = 100
    default_low_stock_threshold: int = 5
