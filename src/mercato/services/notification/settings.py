"""Settings of the notification service."""

from __future__ import annotations

from pydantic import Field

from mercato.platform.settings import ServiceSettings


class Settings(ServiceSettings):
    """notification's settings: the shop's name in mail, and how the sender retries."""

    service: str = "notification"
    shop_name: str = Field(default="Mercato", min_length=1, max_length=100)
    # Where links in mail point (the storefront, through the gateway).
    shop_url: str = "http://127.0.0.1:8080"
    smtp_timeout_seconds: float = 10.0
    # The sender looks for due mail this often (and at once after a pass that found some).
    mail_poll_seconds: float = 1.0
    mail_batch_size: int = Field(default=20, ge=1)
    # Backoff after a failed attempt: base * 2**(attempts - 1), capped.
    mail_retry_base_seconds: float = 2.0
    mail_retry_max_seconds: float = 300.0
    # A refusal (5xx) is final after this many attempts; a relay that is down or says 4xx is
    # retried until the mail is this old.
    mail_max_refusals: int = Field(default=3, ge=1)
    mail_give_up_after_seconds: float = 3 * 24 * 3600.0
