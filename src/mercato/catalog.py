"""The service catalog: the single source of truth for every fact about a service.

The runner, the gateway's routes, readiness targets, Prometheus targets, Kubernetes
manifests, NetworkPolicies and the tests all read this module; nothing else lists
services. A service appears here once it is implemented.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache

API_PREFIX = "/api/v1"
CONTAINER_PORT = 8080


@dataclass(frozen=True)
class Route:
    """A method and path template (``{name}`` matches one path segment)."""

    method: str
    path: str

    def matches(self, method: str, path: str) -> bool:
        """Tells whether a concrete request matches this route."""
        return (
            method.upper() == self.method.upper()
            and _template_regex(self.path).fullmatch(path) is not None
        )


@cache
def _template_regex(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}]+\})", template)
    pattern = "".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts)
    return re.compile(pattern)


@dataclass(frozen=True)
class Service:
    """One microservice: where it listens, what it owns and whom it may talk to."""

    name: str
    summary: str
    port: int
    database: str | None = None
    depends_on: tuple[str, ...] = ()
    publishes: tuple[str, ...] = ()
    consumes: tuple[str, ...] = ()
    route_prefixes: tuple[str, ...] = ()
    public_routes: tuple[Route, ...] = ()
    buckets: tuple[str, ...] = ()
    smtp: bool = False
    verifies_tokens: bool = True
    calls_with_own_identity: bool = False
    proxies_all: bool = False
    probes_all: bool = False

    @property
    def app_factory(self) -> str:
        """Import path of the service's ``create_app(settings)``."""
        return f"mercato.services.{self.name}.app:create_app"

    @property
    def settings_class(self) -> str:
        """Import path of the service's settings class."""
        return f"mercato.services.{self.name}.settings:Settings"

    @property
    def migrations(self) -> str | None:
        """Package holding the service's Alembic tree, if it has a database."""
        return f"mercato.services.{self.name}:migrations" if self.database else None

    @property
    def is_public(self) -> bool:
        """Reachable through the gateway."""
        return bool(self.route_prefixes)

    @property
    def uses_nats(self) -> bool:
        """Publishes or consumes events."""
        return bool(self.publishes or self.consumes)

    @property
    def engines(self) -> tuple[str, ...]:
        """The engines this service needs, in start order."""
        needed = []
        if self.database:
            needed.append("postgres")
        if self.uses_nats:
            needed.append("nats")
        if self.buckets:
            needed.append("s3")
        if self.smtp:
            needed.append("smtp")
        return tuple(needed)

    def is_public_route(self, method: str, path: str) -> bool:
        """Tells whether a request may pass the gateway without a token."""
        return any(r.matches(method, path) for r in self.public_routes)


def _api(*parts: str) -> str:
    return API_PREFIX + "".join(parts)


_SERVICES: tuple[Service, ...] = (
    Service(
        name="gateway",
        summary="Routing, edge auth, rate limits, request ids, aggregated OpenAPI",
        port=8080,
        proxies_all=True,
    ),
    Service(
        name="auth",
        summary="Credentials, sessions, refresh tokens, signing keys (JWKS), service clients",
        port=8101,
        database="mercato_auth",
        publishes=(
            "user.registered",
            "auth.login_succeeded",
            "auth.login_failed",
            "auth.roles_changed",
        ),
        route_prefixes=(_api("/auth"),),
        public_routes=(
            Route("POST", _api("/auth/register")),
            Route("POST", _api("/auth/login")),
            Route("POST", _api("/auth/refresh")),
            Route("POST", _api("/auth/logout")),
            Route("POST", _api("/auth/token")),
            Route("GET", _api("/auth/jwks.json")),
        ),
        verifies_tokens=False,
    ),
    Service(
        name="user",
        summary="Profiles, addresses, avatars (object storage)",
        port=8102,
        database="mercato_user",
        publishes=("user.updated",),
        consumes=("user.registered",),
        route_prefixes=(_api("/users"),),
        buckets=("avatars",),
    ),
    Service(
        name="product",
        summary="Catalog, categories, search, media (object storage), rating aggregate",
        port=8103,
        database="mercato_product",
        publishes=("product.created", "product.updated", "product.deactivated"),
        consumes=("review.created", "review.updated", "review.hidden", "review.deleted"),
        route_prefixes=(_api("/products"), _api("/categories")),
        public_routes=(
            Route("GET", _api("/products")),
            Route("GET", _api("/products/{product_id}")),
            Route("GET", _api("/categories")),
        ),
        buckets=("product-images",),
    ),
    Service(
        name="inventory",
        summary="Stock per SKU, reservations with expiry",
        port=8104,
        database="mercato_inventory",
        publishes=("inventory.low_stock", "inventory.stock_set", "inventory.stock_adjusted"),
        route_prefixes=(_api("/inventory"),),
        public_routes=(Route("GET", _api("/inventory/{sku}")),),
    ),
    Service(
        name="order",
        summary="Carts, orders, the checkout saga, idempotency",
        port=8105,
        database="mercato_order",
        depends_on=("product", "inventory", "payment"),
        publishes=(
            "order.created",
            "order.confirmed",
            "order.failed",
            "order.cancelled",
            "order.refunded",
            "order.cart_item_added",
        ),
        consumes=("payment.refunded",),
        route_prefixes=(_api("/cart"), _api("/orders")),
        calls_with_own_identity=True,
    ),
    Service(
        name="payment",
        summary="Charges, refunds, sandbox card processor",
        port=8106,
        database="mercato_payment",
        publishes=("payment.succeeded", "payment.declined", "payment.refunded"),
        route_prefixes=(_api("/payments"),),
    ),
    Service(
        name="notification",
        summary="Email (SMTP) and in-app notifications from events",
        port=8107,
        database="mercato_notification",
        consumes=(
            "user.registered",
            "user.updated",
            "auth.roles_changed",
            "order.confirmed",
            "order.failed",
            "order.cancelled",
            "order.refunded",
            "inventory.low_stock",
        ),
        route_prefixes=(_api("/notifications"),),
        smtp=True,
    ),
    Service(
        name="review",
        summary="Verified-purchase reviews and ratings",
        port=8108,
        database="mercato_review",
        # Who bought what is review's own projection of order's events, not a call to
        # order: reviews stay writable while order is down (ADR 0031).
        publishes=("review.created", "review.updated", "review.hidden", "review.deleted"),
        consumes=("order.confirmed", "order.cancelled", "order.refunded"),
        route_prefixes=(_api("/reviews"),),
        public_routes=(Route("GET", _api("/reviews")),),
    ),
    Service(
        name="analytics",
        summary="Event-fed reports: sales, funnel, top products, new users",
        port=8109,
        database="mercato_analytics",
        consumes=(
            "order.created",
            "order.confirmed",
            "order.failed",
            "order.cancelled",
            "order.refunded",
            "order.cart_item_added",
            "user.registered",
        ),
        route_prefixes=(_api("/analytics"),),
    ),
    Service(
        name="log",
        summary="Central structured logs (OTLP) and the tamper-evident audit trail",
        port=8110,
        database="mercato_log",
        consumes=(
            "auth.login_succeeded",
            "auth.login_failed",
            "auth.roles_changed",
            "payment.refunded",
            "order.cancelled",
            "product.created",
            "product.updated",
            "product.deactivated",
            "inventory.stock_set",
            "inventory.stock_adjusted",
            "review.hidden",
        ),
        route_prefixes=(_api("/logs"), _api("/audit")),
    ),
    Service(
        name="health",
        summary="Live status of every service and engine, status page",
        port=8111,
        route_prefixes=(_api("/status"),),
        public_routes=(Route("GET", _api("/status")),),
        verifies_tokens=False,
        probes_all=True,
    ),
)

SERVICES: dict[str, Service] = {s.name: s for s in _SERVICES}


def get(name: str) -> Service:
    """Returns the service called ``name``; a KeyError names the known ones."""
    try:
        return SERVICES[name]
    except KeyError:
        raise KeyError(
            f"unknown service {name!r}; the catalog knows {', '.join(SERVICES)}"
        ) from None


def names() -> list[str]:
    """Every service name, in catalog order."""
    return list(SERVICES)


def sync_dependencies(name: str) -> tuple[str, ...]:
    """Services ``name`` may call over HTTP: declared edges plus the platform's own.

    Every service that verifies tokens reads auth's JWKS; the gateway reaches every
    public service; a health prober reaches everyone.
    """
    service = get(name)
    deps = list(service.depends_on)
    if service.proxies_all:
        deps += [s.name for s in SERVICES.values() if s.is_public]
    if service.probes_all:
        deps += [s.name for s in SERVICES.values() if s.name != name]
    if (service.verifies_tokens or service.calls_with_own_identity) and name != "auth":
        deps.append("auth")
    return tuple(dict.fromkeys(d for d in deps if d != name))


def dependents(name: str) -> tuple[str, ...]:
    """Services allowed to call ``name``."""
    return tuple(s for s in SERVICES if name in sync_dependencies(s))


def service_callers(name: str) -> tuple[str, ...]:
    """Services that call ``name`` with their own identity: its declared business callers.

    Narrower than :func:`dependents`: the gateway reaches every public service and
    everyone reads auth's keys, but only a declared ``depends_on`` edge entitles a
    service token to ``name``'s service-only routes.
    """
    return tuple(
        s.name for s in SERVICES.values() if name in s.depends_on and s.calls_with_own_identity
    )


def edges() -> Iterator[tuple[str, str]]:
    """Every allowed sync call, as (caller, callee)."""
    for caller in SERVICES:
        for callee in sync_dependencies(caller):
            yield caller, callee


def consumers_of(event_type: str) -> tuple[str, ...]:
    """Services that consume ``event_type``."""
    return tuple(s.name for s in SERVICES.values() if event_type in s.consumes)


def publisher_of(event_type: str) -> str | None:
    """The service that publishes ``event_type``, if any."""
    return next((s.name for s in SERVICES.values() if event_type in s.publishes), None)


def service_for_path(path: str) -> Service | None:
    """The public service whose route prefix owns ``path`` (longest prefix wins)."""
    best: tuple[int, Service] | None = None
    for service in SERVICES.values():
        for prefix in service.route_prefixes:
            if (path == prefix or path.startswith(prefix + "/")) and (
                best is None or len(prefix) > best[0]
            ):
                best = (len(prefix), service)
    return best[1] if best else None


def with_dependencies(selected: list[str]) -> list[str]:
    """``selected`` plus every service they need, transitively, in catalog order."""
    wanted: set[str] = set()
    stack = list(selected)
    while stack:
        name = stack.pop()
        get(name)
        if name not in wanted:
            wanted.add(name)
            stack.extend(get(name).depends_on)
            stack.extend(d for d in sync_dependencies(name) if d == "auth")
    return [n for n in SERVICES if n in wanted]
