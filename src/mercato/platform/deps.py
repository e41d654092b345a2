"""FastAPI dependency aliases, so route signatures read like sentences."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request

from mercato.platform import forwarding
from mercato.platform.errors import BadRequest


async def _idempotency_key(request: Request) -> str:
    key = request.headers.get("idempotency-key", "").strip()
    if not key:
        raise BadRequest("The Idempotency-Key header is required.")
    if len(key) > 200:
        raise BadRequest("The Idempotency-Key header is longer than 200 characters.")
    return key


async def client_address(request: Request) -> str:
    """The caller's address: the one the gateway sealed, else the socket peer (ADR 0025)."""
    return forwarding.client_address(request)


def from_app_state(name: str) -> Any:
    """A dependency giving ``app.state.<name>`` (async: no worker-thread hop per request)."""

    async def dependency(request: Request) -> Any:
        return getattr(request.app.state, name)

    return Depends(dependency)


IdempotencyKey = Annotated[str, Depends(_idempotency_key)]
ClientAddress = Annotated[str, Depends(client_address)]
