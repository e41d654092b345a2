"""Fields a client may not set, checked in every body of every route (OWASP API3, mass assignment).

Who someone is, what they may do, what state a thing is in and what it costs are the shop's
to decide: a body that names them is refused (422, bodies are Strict), never obeyed.
"""

from __future__ import annotations

import re

from mercato import catalog
from mercato.platform.security import Audience
from tests.security.platform import Platform
from tests.security.routes import CLIENT_MAY_NOT_SET, ApiRoute, example_body, request_models

CLIENT_AUDIENCES = (Audience.PUBLIC, Audience.CUSTOMER)
URLISH = re.compile(r"(^|_)(url|uri|href|webhook|callback|endpoint|host)(_|$)")


def _bodies(platform: Platform) -> list[ApiRoute]:
    routes = [r for r in platform.routes if r.body is not None]
    assert routes, "no route takes a body"
    return routes


def _allowed_caller(platform: Platform, route: ApiRoute) -> dict[str, str]:
    if route.audience is Audience.PUBLIC:
        return {}
    if route.audience is Audience.CUSTOMER:
        return platform.callers.ada
    if route.audience is Audience.SERVICE:
        callers = catalog.service_callers(route.service)
        assert callers, f"{route}: the catalog names no service that may call it"
        return platform.callers.services[callers[0]]
    return platform.callers.root


async def test_every_request_body_refuses_unknown_fields(platform: Platform):
    lax = {
        f"{route}: {model.__name__}"
        for route in _bodies(platform)
        for model in request_models(route.body)  # type: ignore[arg-type]
        if model.model_config.get("extra") != "forbid"
    }
    assert lax == set(), "request models must build on mercato.platform.schemas.Strict"


async def test_no_customer_or_public_body_declares_a_field_the_shop_decides(platform: Platform):
    declared = {
        f"{route}: {model.__name__}.{name}"
        for route in _bodies(platform)
        if route.audience in CLIENT_AUDIENCES
        for model in request_models(route.body)  # type: ignore[arg-type]
        for name in model.model_fields
        if name in CLIENT_MAY_NOT_SET
    }
    assert declared == set()


async def test_every_body_with_a_field_the_shop_decides_is_refused_with_422(platform: Platform):
    wrong = []
    for route in _bodies(platform):
        assert route.body is not None
        headers = {**_allowed_caller(platform, route), "Idempotency-Key": "mass-assignment"}
        for name in sorted(CLIENT_MAY_NOT_SET - set(route.body.model_fields)):
            body = {**example_body(route.body), name: "admin" if name == "roles" else "x"}
            for client in ("gateway", route.service) if route.through_gateway else (route.service,):
                answer = await platform.client(client).request(
                    route.method, route.url(), json=body, headers=headers
                )
                named = [e["loc"] for e in answer.json().get("errors", [])]
                if answer.status_code != 422 or ["body", name] not in named:
                    wrong.append(f"{route} with {name!r} via {client}: {answer.status_code}")
    assert wrong == []


async def test_a_customer_cannot_make_herself_an_administrator(platform: Platform):
    gateway, ada = platform.gateway.client, platform.callers.ada
    me = (await gateway.get(f"{catalog.API_PREFIX}/users/me", headers=ada)).json()
    grab = await gateway.put(
        f"{catalog.API_PREFIX}/auth/users/{me['id']}/roles",
        json={"roles": ["admin"]},
        headers=ada,
    )
    assert grab.status_code == 403
    listed = await gateway.get(f"{catalog.API_PREFIX}/users", headers=ada)
    assert listed.status_code == 403


async def test_no_request_body_takes_a_url_for_the_shop_to_fetch(platform: Platform):
    """No server-side request forgery to be had: the shop follows no address a client gives."""
    fetchable = {
        f"{route}: {model.__name__}.{name}"
        for route in _bodies(platform)
        for model in request_models(route.body)  # type: ignore[arg-type]
        for name, schema in model.model_json_schema().get("properties", {}).items()
        if URLISH.search(name) or "uri" in str(schema.get("format", ""))
    }
    assert fetchable == set()
