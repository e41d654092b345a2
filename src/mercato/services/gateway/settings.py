"""Settings of the gateway."""

from __future__ import annotations

from pydantic import Field

from mercato.platform.settings import ServiceSettings


class Settings(ServiceSettings):
    """The gateway's settings: upstream timeout, rate limits, CORS."""

    service: str = "gateway"
    upstream_timeout_seconds: float = 15.0
    # Token bucket per client (user, or address when anonymous); 0 turns limiting off.
    rate_limit_per_second: float = 50.0
    rate_limit_burst: int = 100
    rate_limit_max_clients: int = 100_000
    # Proxies in front of the gateway that append to X-Forwarded-For (1 behind an ALB).
    trusted_proxy_hops: int = 0
    cors_origins: list[str] = Field(default_factory=list)
    openapi_cache_seconds: float = 60.0
