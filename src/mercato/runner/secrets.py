"""Secrets of a local platform, generated once per data directory and kept there (0600)."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

SECRET_NAMES = ("postgres_password", "s3_access_key", "s3_secret_key", "auth_secret_key")


def load_or_create(data_dir: Path) -> dict[str, str]:
    """The data dir's secrets; missing ones are generated and saved."""
    path = data_dir / "secrets.json"
    current: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    missing = [name for name in SECRET_NAMES if not current.get(name)]
    if missing:
        for name in missing:
            current[name] = (
                secrets.token_urlsafe(24)
                if name != "s3_access_key"
                else ("mercato" + secrets.token_hex(8))
            )
        data_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(current, indent=2))
        os.chmod(tmp, 0o600)
        tmp.replace(path)
    return current
