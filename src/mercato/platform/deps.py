"""FastAPI dependency aliases, so route signatures read like sentences."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Request

from mercato.platform.db import UnitOfWork
from mercato.platform.errors import BadRequest

if TYPE_CHECKING:
    from mercato.platform.app import Platform


async def _platform(request: Request) -> Platform:
    platform: Platform = request.app.state.platform
    return platform


async def _unit_of_work(request: Request) -> UnitOfWork:
    database = (await _platform(request)).database
    if database is None:
        raise RuntimeError("this service has no database")
    return database.unit_of_work()


async def _idempotency_key(request: Request) -> str:
    key = request.headers.get("idempotency-key", "").strip()
    if not key:
        raise BadRequest("The Idempotency-Key header is required.")
    if len(key) > 200:
        raise BadRequest("The Idempotency-Key header is longer than 200 characters.")
    return key


async def client_address(request: Request) -> str:
    """The caller's address: the hop the gateway appended, else the socket peer."""
    forwarded = request.headers.get("x-forwarded-for")
    if forwarded:
        return forwarded.rsplit(",", 1)[-1].strip()
    return request.client.host if request.client else "unknown"


def from_app_state(name: str) -> Any:
    """A dependency giving ``app.state.<name>`` (async: no worker-thread hop per request)."""

    async def dependency(request: Request) -> Any:
        return getattr(request.app.state, name)

    return Depends(dependency)


PlatformDep = Annotated["Platform", Depends(_platform)]
UnitOfWorkDep = Annotated[UnitOfWork, Depends(_unit_of_work)]
IdempotencyKey = Annotated[str, Depends(_idempotency_key)]
ClientAddress = Annotated[str, Depends(client_address)]
