"""Settings of the gateway."""

from __future__ import annotations

from pydantic import Field, model_validator

from mercato.platform.settings import InsecureSettingsError, ServiceSettings


class Settings(ServiceSettings):
    """The gateway's settings: timeouts, rate limits, client addresses, CORS, browser sessions."""

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
    # The browser's refresh token (docs/adr/0027). Chromium and Firefox keep Secure
    # cookies set over http://127.0.0.1 and localhost, so Secure holds locally too.
    session_cookie_name: str = "mercato_refresh"
    session_cookie_secure: bool = True
    session_cookie_max_age_seconds: int = 30 * 24 * 3600
    # Pictures come from object storage and uploads go there (presigned URLs): another
    # origin in every environment. Deployments name their bucket's origin in connect-src.
    web_img_src: str = "'self' data: https: http://127.0.0.1:* http://localhost:*"
    web_connect_src: str = "'self' http://127.0.0.1:* http://localhost:*"

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
