"""Domain errors and their one mapping to RFC 9457 ``application/problem+json``.

Use cases raise these exceptions; the chassis turns every failure, validation and
malformed JSON included, into a problem document. No stack trace or SQL leaves a
service.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

import orjson
import sqlalchemy.exc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from mercato.platform.context import current_request_id

PROBLEM_BASE = "https://mercato.dev/problems/"
PROBLEM_CONTENT_TYPE = "application/problem+json"

log = logging.getLogger("mercato.errors")


# Members of every problem document; an extension must not shadow them.
RESERVED_MEMBERS = frozenset({"type", "title", "status", "detail", "instance", "request_id"})


class DomainError(Exception):
    """Base of every error a use case raises on purpose."""

    status: int = 400
    slug: str = "bad-request"
    title: str = "Bad request"

    def __init__(
        self,
        detail: str | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        **extra: Any,
    ) -> None:
        reserved = RESERVED_MEMBERS & extra.keys()
        if reserved:
            raise ValueError(f"problem extensions may not be named {sorted(reserved)}")
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.headers = dict(headers or {})
        self.extra = extra


class BadRequest(DomainError):
    """The request cannot be understood (malformed JSON, a missing header)."""


class Unauthorized(DomainError):
    """No valid credentials."""

    status, slug, title = 401, "unauthorized", "Unauthorized"

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"}, **extra)


class Forbidden(DomainError):
    """Authenticated, but not allowed."""

    status, slug, title = 403, "forbidden", "Forbidden"


class NotFound(DomainError):
    """No such resource, or one the caller may not know exists."""

    status, slug, title = 404, "not-found", "Not found"


class Conflict(DomainError):
    """The request conflicts with the current state."""

    status, slug, title = 409, "conflict", "Conflict"


class PayloadTooLarge(DomainError):
    """The body is over the size limit."""

    status, slug, title = 413, "payload-too-large", "Payload too large"


class ValidationFailed(DomainError):
    """Well-formed input that breaks a rule."""

    status, slug, title = 422, "validation-failed", "Validation failed"

    def __init__(self, detail: str | None = None, *, errors: Sequence[Mapping[str, Any]] = ()):
        super().__init__(detail, errors=[dict(e) for e in errors])


class IdempotencyKeyReused(ValidationFailed):
    """An Idempotency-Key used before with a different request (API.md: 422)."""

    slug, title = "idempotency-key-reused", "Idempotency key reused"


class TooManyRequests(DomainError):
    """Rate limited; ``retry_after`` seconds tell when to come back."""

    status, slug, title = 429, "too-many-requests", "Too many requests"

    def __init__(self, detail: str | None = None, *, retry_after: int) -> None:
        retry_after = max(1, int(retry_after))
        super().__init__(detail, headers={"Retry-After": str(retry_after)}, retry_after=retry_after)


class ServiceUnavailable(DomainError):
    """A dependency cannot be reached; the client may come back in ``retry_after`` seconds."""

    status, slug, title = 503, "service-unavailable", "Service unavailable"

    def __init__(
        self,
        detail: str | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail, headers={"Retry-After": "1", **(headers or {})}, **extra)


class GatewayTimeout(DomainError):
    """A dependency did not answer in time."""

    status, slug, title = 504, "gateway-timeout", "Gateway timeout"


def problem_response(
    status: int,
    *,
    slug: str | None = None,
    title: str | None = None,
    detail: str | None = None,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> Response:
    """Builds an ``application/problem+json`` response."""
    phrase = HTTPStatus(status).phrase
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + (slug or phrase.lower().replace(" ", "-")),
        "title": title or phrase,
        "status": status,
        "detail": detail or title or phrase,
    }
    request_id = current_request_id()
    if request_id:
        body["request_id"] = request_id
    body.update(extra)
    return Response(
        orjson.dumps(body), status_code=status, headers=headers, media_type=PROBLEM_CONTENT_TYPE
    )


def _loc(loc: Sequence[Any]) -> list[Any]:
    return list(loc)


async def _domain_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    return problem_response(
        exc.status,
        slug=exc.slug,
        title=exc.title,
        detail=exc.detail,
        headers=exc.headers,
        **exc.extra,
    )


async def _validation_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return problem_response(
            400, slug="malformed-json", title="Malformed JSON", detail="The body is not valid JSON."
        )
    return problem_response(
        422,
        slug="validation-failed",
        title="Validation failed",
        detail="The request has invalid fields.",
        errors=[{"loc": _loc(e.get("loc", ())), "msg": e.get("msg", "")} for e in errors],
    )


async def _http_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else None
    return problem_response(exc.status_code, detail=detail, headers=exc.headers)


def internal_error_response() -> Response:
    """The 500 answer to an unexpected failure: no exception text, no stack trace."""
    return problem_response(
        500, slug="internal-error", detail="The service failed to handle the request."
    )


async def _unexpected_error(_: Request, exc: Exception) -> Response:
    log.error("unhandled error", exc_info=exc)
    return internal_error_response()


async def _database_unavailable(_: Request, exc: Exception) -> Response:
    # A saturated pool or an unreachable database is the service's overload, not a bug:
    # tell the client to come back instead of failing with 500.
    log.warning("database unavailable: %s", type(exc).__name__)
    return problem_response(
        503,
        slug="service-unavailable",
        title="Service unavailable",
        detail="The service is overloaded or its database is unreachable; retry shortly.",
        headers={"Retry-After": "1"},
    )


# SQLSTATE classes of a server that is going, restarting or full, not of a bad statement:
# 08 connection exception, 53 insufficient resources (too many connections), 57 operator
# intervention (57P01 terminated by a shutdown, 57P02 crash of another backend, 57P03 "the
# database system is starting up" while it recovers after a crash).
UNAVAILABLE_SQLSTATE_CLASSES = ("08", "53", "57")


def database_is_unavailable(exc: BaseException) -> bool:
    """True when a database error says the server cannot serve now, not that the query failed."""
    state = getattr(getattr(exc, "orig", None), "sqlstate", None)
    return isinstance(state, str) and state[:2] in UNAVAILABLE_SQLSTATE_CLASSES


async def _database_error(request: Request, exc: Exception) -> Response:
    if database_is_unavailable(exc):
        return await _database_unavailable(request, exc)
    return await _unexpected_error(request, exc)


# The problem document as OpenAPI describes it; inline, so every service's document and the
# gateway's merge of them carry it without a shared component.
PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "request_id": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"loc": {"type": "array"}, "msg": {"type": "string"}},
            },
        },
    },
}
# What any route can answer, whatever it does: the chassis and the gateway produce these.
COMMON_PROBLEMS = (400, 404, 422, 429, 503, 504)
WRITE_PROBLEMS = (409, 413)
PROTECTED_PROBLEMS = (401, 403)
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` for problem answers beyond the common ones (a public 401)."""
    return {
        status: {
            "description": HTTPStatus(status).phrase,
            "content": {PROBLEM_CONTENT_TYPE: {"schema": PROBLEM_SCHEMA}},
        }
        for status in sorted(statuses)
    }


def document_problems(route: APIRoute, *, protected: bool) -> None:
    """Adds the problem answers a route can give to its OpenAPI responses (once, here)."""
    statuses = list(COMMON_PROBLEMS)
    if not (route.methods or set()) <= READ_METHODS:
        statuses += WRITE_PROBLEMS
    if protected:
        statuses += PROTECTED_PROBLEMS
    for status, response in problems(*statuses).items():
        route.responses.setdefault(status, response)


def install_error_handlers(app: FastAPI) -> None:
    """Maps every failure of ``app`` to problem+json."""
    app.add_exception_handler(DomainError, _domain_error)
    for unavailable in (
        sqlalchemy.exc.TimeoutError,
        sqlalchemy.exc.OperationalError,
        sqlalchemy.exc.InterfaceError,
        ConnectionError,
        # asyncpg's command timeout: the database did not answer in time.
        TimeoutError,
    ):
        app.add_exception_handler(unavailable, _database_unavailable)
    # Any other database error: 503 when the server is restarting or shutting down, else 500.
    app.add_exception_handler(sqlalchemy.exc.DBAPIError, _database_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
