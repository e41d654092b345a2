"""Settings of the user service."""

from __future__ import annotations

from mercato.platform.settings import ServiceSettings


class Settings(ServiceSettings):
    """user's settings: the avatar policy."""

    service: str = "user"
    avatar_content_types: tuple[str, ...] = ("image/png", "image/jpeg", "image/webp")
    avatar_max_bytes: int = 2 * 1024 * 1024
    avatar_upload_expires_seconds: int = 300
    avatar_url_expires_seconds: int = 3600
