"""The gateway's proxy path: its prefix table agrees with the catalog, its cache with the verifier.

The tokens are real Ed25519 JWTs verified by the chassis' TokenVerifier (see test_security).
"""

from __future__ import annotations

import pytest

from mercato import catalog
from mercato.services.gateway.proxy import RouteTable, bearer_token_of

PATHS = [
    "/api/v1/auth/jwks.json",
    "/api/v1/auth",
    "/api/v1/authx",
    "/api/v1/users/me/addresses",
    "/api/v1/products",
    "/api/v1/products/",
    "/api/v1/categories/7",
    "/api/v1/cart/items",
    "/api/v1/orders/1/cancel",
    "/api/v1/logs",
    "/api/v1/audit/x",
    "/api/v1/status",
    "/api/v1/",
    "/api/v1",
    "/api/v1/nothing-here",
    "/api/v1//auth",
]


@pytest.mark.parametrize("path", PATHS)
def test_the_prefix_table_finds_the_service_the_catalog_names(path):
    table = RouteTable(catalog.SERVICES.values(), lambda name: f"http://{name}")
    expected = catalog.service_for_path(path)
    found = table.lookup(path)
    assert (found.name if found else None) == (expected.name if expected else None)
    if found is not None:
        assert found.base_url == f"http://{found.name}"


def test_the_longest_prefix_wins_and_the_first_service_keeps_a_shared_prefix():
    services = [
        catalog.Service(name="a", summary="", port=1, route_prefixes=("/api/v1/x",)),
        catalog.Service(name="b", summary="", port=2, route_prefixes=("/api/v1/x/y",)),
        catalog.Service(name="c", summary="", port=3, route_prefixes=("/api/v1/x",)),
    ]
    table = RouteTable(services, str)
    assert table.lookup("/api/v1/x/y/z").name == "b"  # type: ignore[union-attr]
    assert table.lookup("/api/v1/x/yz").name == "a"  # type: ignore[union-attr]
    assert table.lookup("/api/v1/x").name == "a"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/auth/jwks.json"),
        ("POST", "/api/v1/auth/login"),
        ("GET", "/api/v1/auth/login"),
        ("GET", "/api/v1/products"),
        ("GET", "/api/v1/products/abc"),
        ("DELETE", "/api/v1/products/abc"),
        ("GET", "/api/v1/users/me"),
    ],
)
def test_public_routes_are_the_catalogs(method, path):
    table = RouteTable(catalog.SERVICES.values(), str)
    upstream = table.lookup(path)
    service = catalog.service_for_path(path)
    assert upstream is not None
    assert service is not None
    assert upstream.is_public_route(method, path) == service.is_public_route(method, path)


@pytest.mark.parametrize(
    ("header", "token"),
    [
        (None, None),
        ("", None),
        ("Bearer abc", "abc"),
        ("bearer  abc ", "abc"),
        ("Bearer ", None),
        ("Basic abc", None),
        ("Bearerabc", None),
    ],
)
def test_the_bearer_token_is_read_as_the_chassis_reads_it(header, token):
    assert bearer_token_of(header) == token
