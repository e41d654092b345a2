"""Who may call what, checked on every route every service serves (OWASP API1, API5).

The routes come from the running apps and their audience from the guard in their
signature, so a new route is attacked here the day it is added.
"""

from __future__ import annotations

import httpx

from mercato import catalog
from mercato.platform.security import Audience
from tests.security.platform import Platform, route_ids
from tests.security.routes import ApiRoute, example_body

SERVICE_ONLY = (Audience.SERVICE, Audience.SERVICE_OR_ADMIN)


async def _call(
    client: httpx.AsyncClient, route: ApiRoute, headers: dict[str, str], value: str = ""
) -> httpx.Response:
    body = example_body(route.body) if route.body is not None else None
    return await client.request(route.method, route.url(value), json=body, headers=headers)


async def test_every_route_is_classified_and_the_catalog_agrees_on_the_public_ones(
    platform: Platform,
):
    assert platform.routes, "no routes found"
    disagreements = []
    for route in platform.routes:
        spec = catalog.get(route.service)
        declared_public = spec.is_public_route(route.method, route.url("x"))
        if declared_public != (route.audience is Audience.PUBLIC):
            disagreements.append(str(route))
    assert disagreements == [], "the catalog's public routes and the guards disagree"


async def test_every_protected_route_refuses_an_anonymous_caller_with_401(platform: Platform):
    wrong = []
    for route in platform.routes:
        if route.audience is Audience.PUBLIC:
            continue
        for name in ("gateway", route.service) if route.through_gateway else (route.service,):
            answer = await _call(platform.client(name), route, {})
            if answer.status_code != 401:
                wrong.append(f"{route} via {name}: {answer.status_code}")
    assert wrong == []


async def test_every_admin_route_refuses_a_customer_with_403(platform: Platform):
    admin_routes = platform.of(Audience.ADMIN)
    assert admin_routes
    wrong = []
    for route in admin_routes:
        for name in ("gateway", route.service):
            answer = await _call(platform.client(name), route, platform.callers.ada)
            if answer.status_code != 403:
                wrong.append(f"{route} via {name}: {answer.status_code}")
    assert wrong == []


async def test_every_service_only_route_refuses_customers_the_gateway_and_strangers(
    platform: Platform,
):
    wrong = []
    for route in platform.of(*SERVICE_ONLY):
        allowed = set(catalog.service_callers(route.service))
        refused = {
            "a customer": platform.callers.ada,
            **{
                f"service {name}": headers
                for name, headers in platform.callers.services.items()
                if name not in allowed
            },
        }
        for who, headers in refused.items():
            for name in ("gateway", route.service) if route.through_gateway else (route.service,):
                answer = await _call(platform.client(name), route, headers)
                if answer.status_code != 403:
                    wrong.append(f"{route} as {who} via {name}: {answer.status_code}")
    assert "service gateway" in {f"service {n}" for n in platform.callers.services}
    assert wrong == []


async def test_every_customer_route_with_an_id_answers_anothers_id_as_a_missing_one(
    platform: Platform,
):
    assert platform.adas_ids, "Ada owns nothing to ask for"
    gateway, eve = platform.gateway.client, platform.callers.eve
    wrong = []
    for route in platform.of(Audience.CUSTOMER):
        if not route.parameters:
            continue
        nobodys = await _call(gateway, route, eve)
        if nobodys.status_code == 422:
            wrong.append(f"{route}: no valid example body ({nobodys.text})")
            continue
        for value in sorted(platform.adas_ids):
            answer = await _call(gateway, route, eve, value)
            if answer.status_code == 403 or (
                answer.status_code != 404 and answer.status_code != nobodys.status_code
            ):
                wrong.append(f"{route} with Ada's {value}: {answer.status_code}")
            elif answer.status_code != 404 and value in answer.text:
                # A 404 may echo the id Eve sent; anything else naming it shows Ada's thing.
                wrong.append(f"{route} with Ada's {value}: the answer names it")
    assert wrong == []


async def test_adas_own_ids_are_hers_to_read(platform: Platform):
    """The control of the test above: her ids do exist, so Eve's 404s mean something."""
    gateway, ada = platform.gateway.client, platform.callers.ada
    readers = [
        r for r in platform.of(Audience.CUSTOMER) if r.method == "GET" and len(r.parameters) == 1
    ]
    found = {
        value
        for value in route_ids(platform)
        for route in readers
        if (await gateway.get(route.url(value), headers=ada)).status_code == 200
    }
    assert found, "none of Ada's ids is readable by Ada: the BOLA test proves nothing"
