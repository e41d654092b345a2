"""Settings of the gateway."""

from __future__ import annotations

from pydantic import Field

from mercato.platform.settings import ServiceSettings


class Settings(ServiceSettings):
    """The gateway's settings: upstream timeout, rate limits, CORS, the browser session."""

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
    # The browser's refresh token (docs/adr/0027). Chromium and Firefox keep Secure
    # cookies set over http://127.0.0.1 and localhost, so Secure holds locally too.
    session_cookie_name: str = "mercato_refresh"
    session_cookie_secure: bool = True
    session_cookie_max_age_seconds: int = 30 * 24 * 3600
    # Pictures come from object storage and uploads go there (presigned URLs): another
    # origin in every environment. Deployments name their bucket's origin in connect-src.
    web_img_src: str = "'self' data: https: http://127.0.0.1:* http://localhost:*"
    web_connect_src: str = "'self' http://127.0.0.1:* http://localhost:*"
