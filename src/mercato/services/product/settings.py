"""Settings of the product service."""

from __future__ import annotations

from mercato.platform.settings import ServiceSettings


class Settings(ServiceSettings):
    """product's settings: the shop's currency and the image policy."""

    service: str = "product"
    # The shop trades in one currency; a price in any other is refused.
    currency: str = "EUR"
    image_content_types: tuple[str, ...] = ("image/png", "image/jpeg", "image/webp")
    image_max_bytes: int = 5 * 1024 * 1024
    images_per_product: int = 10
    image_upload_expires_seconds: int = 300
    image_url_expires_seconds: int = 3600
