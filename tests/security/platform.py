"""Every catalog service on real engines behind the gateway, with the callers that attack it.

Customers Ada and Eve, an administrator, and a token of every service; Ada has shopped
(an address, a card, an order and its charge) so that her ids exist to be asked for by Eve.
Every answer any test gets is checked for leaks (stack traces, SQL, internal addresses).
"""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from mercato import catalog
from mercato.platform.security import Audience
from tests.conftest import Databases, EngineSet, Harness, RunningService
from tests.integration.accounts import admin, customer, signed_service_token
from tests.integration.commerce.shop import ADDRESS, VISA_OK
from tests.security.routes import ApiRoute, routes_of

API = catalog.API_PREFIX
# Generous limits on the shared gateway: these tests must not trip over the rate limit
# (tests/security/test_limits.py starts its own, stingy one).
GATEWAY_SETTINGS: dict[str, Any] = {"rate_limit_per_second": 10_000.0, "rate_limit_burst": 10_000}
# What no error answer may reveal: a stack trace, SQL or a driver, a file path of the code.
LEAKS = re.compile(
    r"Traceback|File \"|\.py\b|site-packages|/work/|/home/|/usr/lib|sqlalchemy|asyncpg|"
    r"psycopg|\bSELECT\b.+\bFROM\b|\bINSERT INTO\b|\bUPDATE\b.+\bSET\b|\bWHERE\b|"
    r"\bpg_|Exception\b|Error:",
    re.IGNORECASE,
)
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def leaks(response: httpx.Response, internal_hosts: list[str]) -> list[str]:
    """What an error answer gives away that it must not (empty when it is clean)."""
    if response.status_code < 400:
        return []
    found = [m.group(0) for m in LEAKS.finditer(response.text)]
    found += [host for host in internal_hosts if host in response.text]
    return found


@dataclass
class Callers:
    """Authorization headers of everyone who calls the platform."""

    ada: dict[str, str]
    eve: dict[str, str]
    root: dict[str, str]
    services: dict[str, dict[str, str]]


@dataclass
class Platform:
    """The running services, the gateway in front, the callers and Ada's private ids."""

    harness: Harness
    running: dict[str, RunningService]
    gateway: RunningService
    callers: Callers
    routes: list[ApiRoute]
    adas_ids: set[str] = field(default_factory=set)
    leaked: list[str] = field(default_factory=list)

    @property
    def internal_hosts(self) -> list[str]:
        """Where the services listen: no error answer names one."""
        return [url.removeprefix("http://") for url in self.harness.service_urls().values()]

    def client(self, name: str) -> httpx.AsyncClient:
        """The client of the gateway or of one service, whose answers are leak-checked."""
        return self.gateway.client if name == "gateway" else self.running[name].client

    def check(self, response: httpx.Response) -> None:
        """Records what an answer leaks (every client calls this on every response)."""
        found = leaks(response, self.internal_hosts)
        if found:
            self.leaked.append(f"{response.request.method} {response.request.url}: {found}")

    def of(self, *audiences: Audience) -> list[ApiRoute]:
        """The routes admitting one of ``audiences``."""
        return [r for r in self.routes if r.audience in audiences]


@contextlib.asynccontextmanager
async def platform_on(engines: EngineSet) -> AsyncIterator[Platform]:
    """A platform with databases of its own, stopped and dropped afterwards.

    Its own: a test's ``harness`` fixture drops every database of its factory when it ends.
    """
    databases = Databases(engines.postgres_url)
    harness = Harness(engines, databases)
    try:
        yield await open_platform(harness)
    finally:
        await harness.close()
        await databases.drop_created()


async def open_platform(harness: Harness) -> Platform:
    """Starts every catalog service and the gateway; registers the callers; Ada shops."""
    running: dict[str, RunningService] = {}
    for name in catalog.names():
        if name != "gateway":
            running[name] = await harness.start(name)
    gateway = await harness.start("gateway", **GATEWAY_SETTINGS)
    auth = running["auth"]
    callers = Callers(
        ada=await customer(auth, "ada@example.com"),
        eve=await customer(auth, "eve@example.com"),
        root=await admin(auth),
        services={name: signed_service_token(auth, name) for name in catalog.names()},
    )
    routes = [r for name, svc in running.items() for r in routes_of(name, svc.app)]
    platform = Platform(harness, running, gateway, callers, routes)

    async def check(response: httpx.Response) -> None:
        await response.aread()
        platform.check(response)

    for svc in (*running.values(), gateway):
        svc.client.event_hooks["response"].append(check)
    await _ada_shops(platform)
    platform.adas_ids = await _private_ids(platform)
    return platform


async def _ada_shops(platform: Platform) -> None:
    """Ada keeps an address and a card and checks out a mug, through the public API."""
    gateway, ada, root = platform.gateway.client, platform.callers.ada, platform.callers.root
    product = await gateway.post(
        f"{API}/products",
        json={"sku": "MUG-1", "name": "Mug", "price": {"amount": 1200, "currency": "EUR"}},
        headers=root,
    )
    assert product.status_code == 201, product.text
    stocked = await gateway.put(f"{API}/inventory/MUG-1", json={"on_hand": 10}, headers=root)
    assert stocked.status_code == 200, stocked.text
    postal = {k: v for k, v in ADDRESS.items() if k != "name"}
    address = await gateway.post(f"{API}/users/me/addresses", json=postal, headers=ada)
    assert address.status_code == 201, address.text
    card = await gateway.post(
        f"{API}/payments/methods",
        json={"card_number": VISA_OK, "exp_month": 12, "exp_year": 2035, "cvc": "123"},
        headers=ada,
    )
    assert card.status_code == 201, card.text
    line = await gateway.put(
        f"{API}/cart/items/{product.json()['id']}", json={"quantity": 1}, headers=ada
    )
    assert line.status_code == 200, line.text
    order = await gateway.post(
        f"{API}/orders",
        json={"shipping_address": ADDRESS, "payment_method_id": card.json()["id"]},
        headers={**ada, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert order.status_code in (201, 202), order.text


async def _private_ids(platform: Platform) -> set[str]:
    """Every id in Ada's own answers that an anonymous caller cannot read (not a product's)."""
    seen: set[str] = set()
    gateway = platform.gateway.client
    for route in platform.of(Audience.CUSTOMER):
        if route.method == "GET" and not route.parameters and route.through_gateway:
            answer = await gateway.get(route.path, headers=platform.callers.ada)
            if answer.status_code == 200:
                seen.update(UUID.findall(answer.text))
    seen.discard(_subject(platform.callers.ada))
    # A public route that reads one thing by id and knows a missing one (GET /products/{id});
    # one that answers anything (GET /inventory/{sku} is 0 for a SKU never stocked) is no test.
    public_readers = [
        r
        for r in platform.of(Audience.PUBLIC)
        if r.method == "GET"
        and len(r.parameters) == 1
        and r.through_gateway
        and (await gateway.get(r.url())).status_code == 404
    ]
    private = set()
    for value in seen:
        answers = [(await gateway.get(r.url(value))).status_code for r in public_readers]
        if 200 not in answers:
            private.add(value)
    return private


def _subject(headers: dict[str, str]) -> str:
    import jwt

    token = headers["Authorization"].removeprefix("Bearer ")
    return str(jwt.decode(token, options={"verify_signature": False})["sub"])


def route_ids(platform: Platform) -> Iterator[str]:
    """Ada's private ids, and one nobody owns."""
    yield from sorted(platform.adas_ids)
    yield str(uuid.uuid4())
