"""Every route of every running service, read from its FastAPI app and classified.

The audience comes from the guard in the route's signature (``route_audience`` in the
chassis), so a route a service adds tomorrow is inventoried, classified and attacked by
the tests of this package without anyone listing it.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel

from mercato import catalog
from mercato.platform.security import Audience, route_audience

PARAMETER = re.compile(r"\{([^}:]+)(?::[^}]*)?\}")
# Fields a client never sets in a body it sends as a customer or anonymously: who it is,
# what it may do, what state a thing is in, and what it costs (the shop computes those).
CLIENT_MAY_NOT_SET = frozenset(
    {
        "id",
        "roles",
        "user_id",
        "customer_id",
        "owner",
        "owner_id",
        "status",
        "created_at",
        "updated_at",
        "price",
        "unit_price",
        "amount",
        "total",
        "line_total",
        "totals",
    }
)


@dataclass(frozen=True)
class ApiRoute:
    """One operation of one service, with who may call it."""

    service: str
    method: str
    path: str
    audience: Audience
    body: type[BaseModel] | None
    paginated: bool

    @property
    def parameters(self) -> list[str]:
        """Names of the path's parameters."""
        return PARAMETER.findall(self.path)

    @property
    def through_gateway(self) -> bool:
        """Served under a public prefix of the catalog."""
        return catalog.service_for_path(self.path) is not None

    @property
    def writes(self) -> bool:
        """A method that carries a body."""
        return self.method in {"POST", "PUT", "PATCH", "DELETE"}

    def url(self, value: str = "") -> str:
        """The path with every parameter set to ``value`` (a fresh UUID by default)."""
        return PARAMETER.sub(lambda _: value or str(uuid.uuid4()), self.path)

    def __str__(self) -> str:
        return f"{self.service} {self.method} {self.path} ({self.audience})"


def routes_of(service: str, app: FastAPI) -> Iterator[ApiRoute]:
    """The API routes of one service's app (its chassis endpoints are not API)."""
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if not isinstance(route, APIRoute) or not str(context.path).startswith(catalog.API_PREFIX):
            continue
        if not route.include_in_schema:
            continue  # an alias of a documented route (``/users/`` for ``/users``)
        body = route.body_field.field_info.annotation if route.body_field is not None else None
        for method in sorted(route.methods):
            yield ApiRoute(
                service=service,
                method=method,
                path=str(context.path),
                audience=route_audience(route),
                body=body if isinstance(body, type) and issubclass(body, BaseModel) else None,
                paginated="limit" in set(_query_parameters(route.dependant)),
            )


def _query_parameters(dependant: Dependant) -> Iterator[str]:
    yield from (p.name for p in dependant.query_params)
    for dependency in dependant.dependencies:
        yield from _query_parameters(dependency)


def request_models(model: type[BaseModel]) -> Iterator[type[BaseModel]]:
    """A body model and every model nested in it."""
    seen: set[type[BaseModel]] = set()
    stack = [model]
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        yield current
        for field in current.model_fields.values():
            stack.extend(_models_in(field.annotation))


def _models_in(annotation: Any) -> Iterable[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    for argument in getattr(annotation, "__args__", ()) or ():
        yield from _models_in(argument)


def example_body(model: type[BaseModel]) -> dict[str, Any]:
    """A body the model accepts: its own examples where it gives them, else the simplest."""
    schema = model.model_json_schema()
    value = _example(schema, schema.get("$defs", {}))
    return value if isinstance(value, dict) else {}


def _example(schema: dict[str, Any], defs: dict[str, Any]) -> Any:
    if "$ref" in schema:
        return _example(defs[schema["$ref"].rsplit("/", 1)[-1]], defs)
    if schema.get("examples"):
        return schema["examples"][0]
    if "default" in schema:
        return schema["default"]
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            options = [s for s in schema[key] if s.get("type") != "null"] or schema[key]
            return _example(options[0], defs)
    kind = schema.get("type")
    if kind == "object":
        properties = schema.get("properties", {})
        return {name: _example(properties[name], defs) for name in schema.get("required", [])}
    if kind == "array":
        return [_example(schema.get("items", {}), defs)] * max(1, schema.get("minItems", 0))
    if kind == "integer":
        low = schema.get("minimum", schema.get("exclusiveMinimum", 0) + 1)
        return max(low, 1) if schema.get("maximum", 1) >= 1 else low
    if kind == "number":
        return float(schema.get("minimum", 1))
    if kind == "boolean":
        return True
    if kind == "string":
        return _string(schema)
    return None


def _string(schema: dict[str, Any]) -> str:
    formats = {
        "uuid": str(uuid.uuid4()),
        "email": "someone@example.com",
        "date-time": "2026-12-01T00:00:00Z",
        "date": "2026-12-01",
        "uri": "https://example.com/",
    }
    if schema.get("format") in formats:
        return formats[schema["format"]]
    length = max(schema.get("minLength", 1), 1)
    return ("A" * length)[: schema.get("maxLength", length)]
