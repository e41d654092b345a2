"""Settings of the gateway."""

from __future__ import annotations

from pydantic import Field, model_validator

from mercato.platform.settings import InsecureSettingsError, ServiceSettings


class Settings(ServiceSettings):
    """The gateway's settings: upstream timeout, rate limits, client addresses, CORS."""

    service: str = "gateway"
    upstream_timeout_seconds: float = 15.0
    # Token bucket per client (user, or address when anonymous); 0 turns limiting off.
    rate_limit_per_second: float = 50.0
    rate_limit_burst: int = 100
    rate_limit_max_clients: int = 100_000
    # Proxies in front of the gateway that append to X-Forwarded-For (1 behind an ALB).
    trusted_proxy_hops: int = Field(default=0, ge=0)
    cors_origins: list[str] = Field(default_factory=list)
    openapi_cache_seconds: float = 60.0

    @model_validator(mode="after")
    def _decide_addresses_alone(self) -> Settings:
        if self.forwarded_allow_ips.strip():
            raise InsecureSettingsError(
                "refusing to start the gateway with MERCATO_FORWARDED_ALLOW_IPS: uvicorn would "
                "rewrite the socket peer from X-Forwarded-For before the gateway counts "
                "MERCATO_TRUSTED_PROXY_HOPS; set only the hops"
            )
        return self

    def required_secrets(self) -> list[str]:
        """The chassis's list, plus the client secret that keys the address seal."""
        return [*super().required_secrets(), "client_secret"]
