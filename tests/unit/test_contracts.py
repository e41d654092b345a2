"""The contracts between services: published, compatible with what was published, and in
agreement with the catalog and with the routes that serve them."""

from __future__ import annotations

import importlib
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute

from mercato import catalog
from mercato.contracts import published
from mercato.contracts.compatibility import breaking_changes
from mercato.contracts.events import CONTRACTS, EVENTS
from mercato.deploy import render
from tests.unit.test_catalog import EVENTS_FROM_SERVICES_NOT_YET_BUILT

REPO = Path(__file__).resolve().parents[2]


# -- the compatibility checker, on crafted schemas ---------------------------------------


def payload(properties: dict[str, Any], required: list[str], **defs: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties, "required": required}
    if defs:
        schema["$defs"] = defs
    return schema


TEXT = {"type": "string"}
NUMBER = {"type": "integer"}
NULLABLE_TEXT = {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None}
MONEY = payload({"amount": NUMBER, "currency": TEXT}, ["amount", "currency"])
V1 = payload(
    {"sku": TEXT, "quantity": NUMBER, "note": NULLABLE_TEXT, "price": {"$ref": "#/$defs/Money"}},
    ["sku", "quantity", "price"],
    Money=MONEY,
)


def changed(**changes: Any) -> dict[str, Any]:
    """V1 with some properties replaced (None removes one) and ``required`` as given."""
    schema = json.loads(json.dumps(V1))
    required = changes.pop("required", None)
    for name, value in changes.items():
        if value is None:
            del schema["properties"][name]
        else:
            schema["properties"][name] = value
    if required is not None:
        schema["required"] = required
    return schema


def test_the_same_schema_is_compatible():
    assert breaking_changes(V1, json.loads(json.dumps(V1))) == []


def test_adding_an_optional_field_is_compatible():
    assert breaking_changes(V1, changed(colour=NULLABLE_TEXT)) == []


def test_adding_a_required_field_breaks():
    assert breaking_changes(
        V1, changed(colour=TEXT, required=["sku", "quantity", "price", "colour"])
    ) == ["payload.colour: added as required"]


def test_removing_a_field_breaks():
    assert breaking_changes(V1, changed(note=None)) == ["payload.note: removed"]
    assert breaking_changes(V1, changed(sku=None, required=["quantity", "price"])) == [
        "payload.sku: removed"
    ]


def test_retyping_a_field_breaks():
    assert breaking_changes(V1, changed(quantity=TEXT)) == [
        "payload.quantity: retyped from integer to string"
    ]
    assert breaking_changes(V1, changed(sku={"type": "string", "format": "uuid"})) != []


def test_making_a_field_nullable_or_required_breaks():
    assert breaking_changes(V1, changed(sku=NULLABLE_TEXT)) != []
    assert breaking_changes(V1, changed(required=["sku", "quantity", "price", "note"])) == [
        "payload.note: now required"
    ]


def test_changes_inside_a_referenced_model_count():
    schema = changed()
    del schema["$defs"]["Money"]["properties"]["currency"]
    schema["$defs"]["Money"]["required"] = ["amount"]
    assert breaking_changes(V1, schema) == ["payload.price.currency: removed"]
    inline = changed(price=payload({"amount": NUMBER, "currency": TEXT}, ["amount", "currency"]))
    assert breaking_changes(V1, inline) == []


def test_items_of_a_list_are_compared():
    old = payload({"lines": {"type": "array", "items": {"$ref": "#/$defs/Money"}}}, [], Money=MONEY)
    new = payload({"lines": {"type": "array", "items": payload({"amount": TEXT}, ["amount"])}}, [])
    assert breaking_changes(old, new) == [
        "payload.lines[].amount: retyped from integer to string",
        "payload.lines[].currency: removed",
    ]


def openapi(answer: dict[str, Any], *, path: str = "/things/{id}") -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "paths": {
            path: {
                "get": {
                    "responses": {
                        "200": {
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Thing"}
                                }
                            }
                        }
                    }
                }
            }
        },
        "components": {"schemas": {"Thing": answer}},
    }


def test_an_openapi_answer_may_gain_an_optional_field_only():
    old = openapi(payload({"id": TEXT}, ["id"]))
    assert (
        breaking_changes(old, openapi(payload({"id": TEXT, "extra": NULLABLE_TEXT}, ["id"]))) == []
    )
    assert breaking_changes(old, openapi(payload({"name": TEXT}, ["name"]))) == [
        "GET /things/{id} 200.id: removed",
        "GET /things/{id} 200.name: added as required",
    ]


def test_an_openapi_route_may_not_disappear():
    old = openapi(payload({"id": TEXT}, ["id"]))
    assert breaking_changes(old, openapi(payload({"id": TEXT}, ["id"]), path="/other")) == [
        "GET /things/{id}: removed"
    ]


# -- the published contracts --------------------------------------------------------------


def previously_published(path: str) -> dict[str, Any] | None:
    """The contract as last published on main, else as committed here (None: new)."""
    for base in ("origin/main", "main"):
        shown = subprocess.run(
            ["git", "show", f"{base}:{path}"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=False,
        )
        if shown.returncode == 0:
            return dict(json.loads(shown.stdout))
    committed = REPO / path
    return dict(json.loads(committed.read_text())) if committed.exists() else None


@pytest.mark.parametrize("path", sorted(published.files()))
def test_the_code_is_compatible_with_the_published_contract(path: str):
    previous = previously_published(path)
    if previous is None:
        return  # a new contract (or a new version of one): nothing to be compatible with
    assert breaking_changes(previous, published.files()[path]) == [], (
        f"{path} breaks its published version: make the change optional, or publish a new version"
    )


def test_every_event_contract_and_service_route_is_published():
    paths = set(published.files())
    assert {published.event_path(m) for m in CONTRACTS} <= paths
    assert {published.openapi_path(s) for s in published.CALLS} <= paths
    assert len(EVENTS) == len(CONTRACTS), "two contracts claim the same event type"


def test_rendering_refuses_to_overwrite_a_published_contract_with_a_breaking_change(tmp_path):
    shutil.copytree(REPO / published.DIRECTORY, tmp_path / published.DIRECTORY)
    path = tmp_path / published.event_path(EVENTS["inventory.low_stock"])
    schema = json.loads(path.read_text())
    # As if the published version had a required field the code no longer sends.
    schema["properties"]["warehouse"] = {"type": "string"}
    schema["required"].append("warehouse")
    path.write_text(json.dumps(schema))
    with pytest.raises(render.BreakingContractChange) as refused:
        render.write(tmp_path, ("contracts",))
    assert refused.value.problems == [
        f"{published.event_path(EVENTS['inventory.low_stock'])}: payload.warehouse: removed"
    ]
    assert json.loads(path.read_text()) == schema  # nothing was overwritten


# -- agreement with the catalog and the routes ---------------------------------------------


def test_every_published_event_type_has_a_contract_in_its_publishers_module():
    for service in catalog.SERVICES.values():
        for event_type in service.publishes:
            assert event_type in EVENTS, f"{service.name} publishes {event_type} without a contract"
            assert EVENTS[event_type].__module__ == f"mercato.contracts.{service.name}"


def test_every_consumed_event_type_has_a_publisher_and_a_contract():
    for service in catalog.SERVICES.values():
        for event_type in service.consumes:
            assert event_type in EVENTS, f"{service.name} consumes {event_type} without a contract"
            publisher = catalog.publisher_of(event_type) or EVENTS_FROM_SERVICES_NOT_YET_BUILT.get(
                event_type
            )
            assert publisher is not None, f"nobody publishes {event_type}"
            assert EVENTS[event_type].__module__ == f"mercato.contracts.{publisher}"


def test_every_contract_is_of_an_event_someone_publishes():
    for event_type in EVENTS:
        assert (
            catalog.publisher_of(event_type) is not None
            or event_type in EVENTS_FROM_SERVICES_NOT_YET_BUILT
        ), f"{event_type} has a contract but no publisher in the catalog"


# OAuth's token endpoint takes a form or JSON, and HTTP Basic client authentication: it reads
# the body itself, then validates it with the contract's model.
BODY_READ_BY_HAND = {("POST", "/api/v1/auth/token")}


@pytest.mark.parametrize("service", sorted(published.CALLS))
def test_the_callee_serves_each_contracted_route_with_the_contract_models(service: str):
    router = importlib.import_module(f"mercato.services.{service}.routes").router
    routes = {
        (method, route.path): route
        for route in router.routes
        if isinstance(route, APIRoute)
        for method in route.methods
    }
    for call in published.CALLS[service]:
        route = routes.get((call.method, call.path))
        assert route is not None, f"{service} has no route {call.method} {call.path}"
        success = min(status for status in call.answers if status < 300)
        assert route.response_model is call.answers[success]
        if (call.method, call.path) in BODY_READ_BY_HAND:
            routes_module = importlib.import_module(route.endpoint.__module__)
            assert call.body is not None
            assert getattr(routes_module, call.body.__name__) is call.body
            continue
        body = route.body_field.field_info.annotation if route.body_field else None
        assert body is call.body, f"{call.method} {call.path} takes {body}, not {call.body}"
