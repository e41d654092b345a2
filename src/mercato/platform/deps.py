"""FastAPI dependency aliases, so route signatures read like sentences."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, TypeVar

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


T = TypeVar("T")


def _provider(kind: type[Any]) -> Any:
    """A dependency giving the one object of ``kind`` the app put on ``app.state``."""

    # Async, so FastAPI runs it inline: no worker-thread hop per request.
    async def provided(request: Request) -> Any:
        for value in vars(request.app.state)["_state"].values():
            if isinstance(value, kind):
                return value
        raise LookupError(f"the app provides no {kind.__name__} on app.state")

    return Depends(provided)


if TYPE_CHECKING:
    # Type checkers see the provided object itself.
    Provided = Annotated[T, "app.state"]
else:

    class Provided:
        """``profiles: Provided[Profiles]``: the Profiles create_app set on ``app.state``."""

        def __class_getitem__(cls, kind: type[Any]) -> Any:
            return Annotated[kind, _provider(kind)]


IdempotencyKey = Annotated[str, Depends(_idempotency_key)]
ClientAddress = Annotated[str, Depends(client_address)]
