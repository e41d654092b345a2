"""Cursor pagination: ``?limit=&cursor=`` in, ``{items, next_cursor}`` out.

A cursor is the sort key of the last item served, opaque to clients. Queries use it as
a keyset (``WHERE (created_at, id) < (:a, :b)``), so pages stay fast and stable under
inserts, unlike offsets.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Generic, Protocol, TypeVar

import orjson
from fastapi import Depends, Query
from pydantic import BaseModel

from mercato.platform.errors import ValidationFailed

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


T = TypeVar("T")
R = TypeVar("R")


class Page(BaseModel, Generic[T]):
    """One page of a list."""

    items: list[T]
    next_cursor: str | None


class PageRequest(BaseModel):
    """What a client asked for: how many items, after which cursor."""

    limit: int
    after: list[Any] | None


def encode_cursor(*values: Any) -> str:
    """An opaque cursor for the sort key ``values``."""
    return base64.urlsafe_b64encode(orjson.dumps(list(values), default=str)).decode().rstrip("=")


def decode_cursor(cursor: str) -> list[Any]:
    """The sort key inside a cursor; 422 when it is not one of ours."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = orjson.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        raise InvalidCursor() from None
    if not isinstance(values, list):
        raise InvalidCursor()
    return values


class InvalidCursor(ValidationFailed):
    """A cursor we did not hand out (or one that no longer decodes)."""

    def __init__(self) -> None:
        super().__init__(
            "The cursor is not valid.",
            errors=[{"loc": ["query", "cursor"], "msg": "invalid cursor"}],
        )


class Dated(Protocol):
    """A row listed newest first: by creation time, then by id to break ties."""

    @property
    def created_at(self) -> datetime: ...

    @property
    def id(self) -> uuid.UUID: ...


def newest_first(row: Dated) -> tuple[str, str]:
    """The sort key of a row listed newest first, as a cursor holds it."""
    return row.created_at.isoformat(), str(row.id)


def created_before(request: PageRequest) -> tuple[datetime, uuid.UUID] | None:
    """The ``(created_at, id)`` keyset a newest-first page continues after; 422 if forged."""
    if not request.after:
        return None
    try:
        return datetime.fromisoformat(request.after[0]), uuid.UUID(request.after[1])
    except (ValueError, IndexError, TypeError):
        raise InvalidCursor() from None


async def _page_request(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> PageRequest:
    return PageRequest(limit=limit, after=decode_cursor(cursor) if cursor else None)


PageRequestDep = Annotated[PageRequest, Depends(_page_request)]


def page_of(
    rows: list[R],
    request: PageRequest,
    item: Callable[[R], T],
    key: Callable[[R], tuple[Any, ...]],
) -> Page[T]:
    """A page from ``rows`` fetched with ``limit + 1``: the extra row says there is more."""
    more = len(rows) > request.limit
    rows = rows[: request.limit]
    items = [item(r) for r in rows]
    next_cursor = encode_cursor(*key(rows[-1])) if more and rows else None
    return Page[T](items=items, next_cursor=next_cursor)
