"""The service catalog: consistent facts, and the derived views every consumer reads."""

from __future__ import annotations

import pytest

from mercato import catalog
from mercato.catalog import API_PREFIX, Route, Service

# Events a catalog service consumes before the service that publishes them is built.
# Each entry names the service expected to publish it; that service must not be in the
# catalog yet (once it is, it must declare the event, and the entry goes).
EVENTS_FROM_SERVICES_NOT_YET_BUILT: dict[str, str] = {}


def test_every_dependency_names_a_catalog_service():
    for service in catalog.SERVICES.values():
        for dependency in service.depends_on:
            assert dependency in catalog.SERVICES, f"{service.name} depends on {dependency}"


def test_no_service_depends_on_itself():
    for name in catalog.names():
        assert name not in catalog.get(name).depends_on
        assert name not in catalog.sync_dependencies(name)


def test_ports_are_unique():
    ports = [s.port for s in catalog.SERVICES.values()]
    assert len(ports) == len(set(ports))


def test_databases_are_unique():
    databases = [s.database for s in catalog.SERVICES.values() if s.database]
    assert len(databases) == len(set(databases))


def test_route_prefixes_are_unique_and_under_the_api_prefix():
    prefixes = [p for s in catalog.SERVICES.values() for p in s.route_prefixes]
    assert len(prefixes) == len(set(prefixes))
    for prefix in prefixes:
        assert prefix.startswith(API_PREFIX + "/")
        assert not prefix.endswith("/")


def test_public_routes_lie_under_their_service_prefixes():
    for service in catalog.SERVICES.values():
        for route in service.public_routes:
            assert catalog.service_for_path(route.path) is service, route


def test_every_consumed_event_has_a_publisher_or_is_documented_as_coming_later():
    for service in catalog.SERVICES.values():
        for event_type in service.consumes:
            publisher = catalog.publisher_of(event_type)
            if publisher is None:
                expected = EVENTS_FROM_SERVICES_NOT_YET_BUILT.get(event_type)
                assert expected is not None, f"nobody publishes {event_type}"
                assert expected not in catalog.SERVICES, (
                    f"{expected} is built now: declare {event_type} in its publishes"
                )
            else:
                assert publisher != service.name


def test_documented_future_events_are_really_still_missing():
    for event_type, publisher in EVENTS_FROM_SERVICES_NOT_YET_BUILT.items():
        assert catalog.publisher_of(event_type) is None, (
            f"{publisher} publishes {event_type} now; drop it from the list"
        )


def test_each_event_type_has_exactly_one_publisher():
    published = [e for s in catalog.SERVICES.values() for e in s.publishes]
    assert len(published) == len(set(published))


def test_user_consumes_user_registered_from_auth():
    assert catalog.publisher_of("user.registered") == "auth"
    assert "user" in catalog.consumers_of("user.registered")


def test_unknown_service_names_the_known_ones():
    with pytest.raises(KeyError, match="auth"):
        catalog.get("nope")


# -- derived views, on a catalog made for the test ---------------------------------


@pytest.fixture
def shop(monkeypatch: pytest.MonkeyPatch) -> dict[str, Service]:
    services = {
        s.name: s
        for s in (
            Service("gateway", "edge", 8080, proxies_all=True),
            Service(
                "auth",
                "identity",
                8101,
                database="db_auth",
                route_prefixes=(f"{API_PREFIX}/auth",),
                verifies_tokens=False,
            ),
            Service("product", "catalog", 8103, route_prefixes=(f"{API_PREFIX}/products",)),
            Service(
                "review",
                "reviews",
                8108,
                route_prefixes=(f"{API_PREFIX}/products/reviews",),
                depends_on=("order",),
            ),
            Service(
                "order",
                "orders",
                8105,
                route_prefixes=(f"{API_PREFIX}/orders",),
                depends_on=("product",),
                calls_with_own_identity=True,
            ),
            Service("internal", "no public routes", 8120, verifies_tokens=False),
            Service("health", "prober", 8112, probes_all=True),
        )
    }
    monkeypatch.setattr(catalog, "SERVICES", services)
    return services


def test_sync_dependencies_add_auth_for_token_verifiers(shop):
    assert catalog.sync_dependencies("product") == ("auth",)
    assert catalog.sync_dependencies("order") == ("product", "auth")
    assert catalog.sync_dependencies("internal") == ()
    assert catalog.sync_dependencies("auth") == ()


def test_gateway_may_reach_every_public_service(shop):
    assert set(catalog.sync_dependencies("gateway")) == {"auth", "product", "review", "order"}


def test_health_prober_may_reach_everyone_but_itself(shop):
    assert set(catalog.sync_dependencies("health")) == set(shop) - {"health"}


def test_only_declared_callers_with_their_own_identity_reach_service_routes():
    assert catalog.service_callers("inventory") == ("order",)
    assert "gateway" not in catalog.service_callers("payment")
    assert catalog.service_callers("auth") == ()


def test_dependents_are_the_inverse_of_sync_dependencies(shop):
    assert set(catalog.dependents("product")) == {"gateway", "order", "health"}
    assert set(catalog.dependents("order")) == {"gateway", "review", "health"}
    assert "auth" not in catalog.dependents("auth")


def test_edges_list_every_allowed_call(shop):
    edges = set(catalog.edges())
    assert ("review", "order") in edges
    assert ("order", "product") in edges
    assert ("product", "order") not in edges
    assert edges == {(c, d) for c in shop for d in catalog.sync_dependencies(c)}
    assert all(caller != callee for caller, callee in edges)


def test_service_for_path_takes_the_longest_prefix(shop):
    assert catalog.service_for_path(f"{API_PREFIX}/products").name == "product"
    assert catalog.service_for_path(f"{API_PREFIX}/products/42").name == "product"
    assert catalog.service_for_path(f"{API_PREFIX}/products/reviews").name == "review"
    assert catalog.service_for_path(f"{API_PREFIX}/products/reviews/7").name == "review"


def test_service_for_path_matches_whole_segments_only(shop):
    assert catalog.service_for_path(f"{API_PREFIX}/productsx") is None
    assert catalog.service_for_path(f"{API_PREFIX}/products/reviewsx").name == "product"
    assert catalog.service_for_path("/health") is None
    assert catalog.service_for_path(API_PREFIX) is None


def test_with_dependencies_adds_what_is_needed_transitively_in_catalog_order(shop):
    assert catalog.with_dependencies(["review"]) == ["auth", "product", "review", "order"]
    assert catalog.with_dependencies(["product"]) == ["auth", "product"]
    assert catalog.with_dependencies(["internal"]) == ["internal"]
    assert catalog.with_dependencies(["auth", "auth"]) == ["auth"]


def test_with_dependencies_refuses_unknown_services(shop):
    with pytest.raises(KeyError):
        catalog.with_dependencies(["nope"])


def test_with_dependencies_on_the_real_catalog_brings_auth_along():
    for name in catalog.names():
        selected = catalog.with_dependencies([name])
        assert name in selected
        for dependency in catalog.get(name).depends_on:
            assert dependency in selected
        if catalog.get(name).verifies_tokens:
            assert "auth" in selected


# -- route templates -------------------------------------------------------------------


def test_route_matches_literal_paths_and_method():
    route = Route("POST", "/api/v1/auth/login")
    assert route.matches("POST", "/api/v1/auth/login")
    assert route.matches("post", "/api/v1/auth/login")
    assert not route.matches("GET", "/api/v1/auth/login")
    assert not route.matches("POST", "/api/v1/auth/login/")
    assert not route.matches("POST", "/api/v1/auth/loginx")
    assert not route.matches("POST", "/x/api/v1/auth/login")


def test_route_template_parameters_match_one_segment():
    route = Route("GET", "/api/v1/products/{product_id}/media/{media_id}")
    assert route.matches("GET", "/api/v1/products/42/media/abc")
    assert not route.matches("GET", "/api/v1/products/42/media/")
    assert not route.matches("GET", "/api/v1/products//media/abc")
    assert not route.matches("GET", "/api/v1/products/4/2/media/abc")
    assert not route.matches("GET", "/api/v1/products/42/media/abc/extra")


def test_route_templates_escape_regex_characters():
    route = Route("GET", "/api/v1/auth/jwks.json")
    assert route.matches("GET", "/api/v1/auth/jwks.json")
    assert not route.matches("GET", "/api/v1/auth/jwksXjson")


def test_is_public_route_reads_the_services_allow_list():
    auth = catalog.get("auth")
    assert auth.is_public_route("POST", f"{API_PREFIX}/auth/login")
    assert auth.is_public_route("GET", f"{API_PREFIX}/auth/jwks.json")
    assert not auth.is_public_route("PUT", f"{API_PREFIX}/auth/users/1/roles")
