"""The published form of the contracts: JSON Schema per event, OpenAPI per service.

``mercato render contracts`` writes them under ``docs/contracts/``; CI checks that the
committed files are what the code says, and that the code stays compatible with what was
published before (:mod:`mercato.contracts.compatibility`). Files of earlier versions are
never removed: a consumer may still read them.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from mercato.contracts import auth, inventory, payment, product
from mercato.contracts.calls import Call
from mercato.contracts.events import CONTRACTS
from mercato.platform.envelope import EventPayload

DIRECTORY = "docs/contracts"
# The services other services call, with the routes they are called on.
CALLS: dict[str, tuple[Call, ...]] = {
    "auth": auth.CALLS,
    "inventory": inventory.CALLS,
    "payment": payment.CALLS,
    "product": product.CALLS,
}
_PATH_PARAMETER = re.compile(r"{(\w+)}")
_QUERY_TYPES = {
    "uuid": {"type": "string", "format": "uuid"},
    "int": {"type": "integer"},
    "string": {"type": "string"},
}


def event_path(model: type[EventPayload]) -> str:
    """Where the JSON Schema of an event contract is published."""
    return f"{DIRECTORY}/events/{model.event_type}.v{model.version}.json"


def openapi_path(service: str) -> str:
    """Where the OpenAPI of a service's service-to-service routes is published."""
    return f"{DIRECTORY}/{service}.openapi.json"


def event_schema(model: type[EventPayload]) -> dict[str, Any]:
    """The JSON Schema of an event's payload, naming its type and version."""
    schema = model.model_json_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"urn:mercato:event:{model.event_type}:v{model.version}",
        "x-event-type": model.event_type,
        "x-schema-version": model.version,
        **schema,
    }


def openapi(service: str, calls: tuple[Call, ...]) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the routes other services call on ``service``."""
    models: list[type[BaseModel]] = []
    for call in calls:
        for model in (call.body, *call.answers.values()):
            if model is not None and model not in models:
                models.append(model)
    refs, definitions = models_json_schema(
        [(m, "validation") for m in models], ref_template="#/components/schemas/{model}"
    )

    def ref(model: type[BaseModel]) -> dict[str, Any]:
        return {"$ref": refs[(model, "validation")]["$ref"]}

    paths: dict[str, dict[str, Any]] = {}
    for call in calls:
        operation: dict[str, Any] = {"summary": call.summary}
        parameters = [
            {"name": name, "in": "path", "required": True, "schema": _QUERY_TYPES["uuid"]}
            for name in _PATH_PARAMETER.findall(call.path)
        ]
        parameters += [
            {"name": name, "in": "query", "required": False, "schema": _QUERY_TYPES[kind]}
            for name, kind in call.query.items()
        ]
        parameters += [
            {"name": name, "in": "header", "required": True, "schema": {"type": "string"}}
            for name in call.headers
        ]
        if parameters:
            operation["parameters"] = parameters
        if call.body is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": ref(call.body)}},
            }
        operation["responses"] = {
            str(status): {
                "description": (model.__doc__ or model.__name__).strip().splitlines()[0],
                "content": {
                    "application/problem+json" if status >= 400 else "application/json": {
                        "schema": ref(model)
                    }
                },
            }
            for status, model in sorted(call.answers.items())
        }
        paths.setdefault(call.path, {})[call.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": f"Mercato {service}: service-to-service routes",
            "version": "1",
        },
        "paths": paths,
        "components": {"schemas": definitions.get("$defs", {})},
    }


def files() -> dict[str, dict[str, Any]]:
    """Every published contract of the code: path to document."""
    published: dict[str, dict[str, Any]] = {}
    for model in CONTRACTS:
        published[event_path(model)] = event_schema(model)
    for service, calls in CALLS.items():
        published[openapi_path(service)] = openapi(service, calls)
    return published
