"""On the runner, every service ships its records to the log service and the seed's admin
actions are in the audit trail, all read through the gateway."""

from __future__ import annotations

import uuid

import httpx
import pytest

from mercato.runner import seed
from mercato.runner.secrets import load_or_create
from tests.e2e.support import RunningPlatform, eventually, jwt_claims, login

pytestmark = pytest.mark.e2e

API = "/api/v1"


@pytest.fixture(scope="module")
def admin(shop: RunningPlatform) -> dict[str, str]:
    password = seed.seed_admin_password(load_or_create(shop.data_dir)["auth_secret_key"])
    tokens = login(shop.url("gateway"), seed.SEED_ADMIN_EMAIL, password)
    assert tokens.status_code == 200, tokens.text
    return {"Authorization": f"Bearer {tokens.json()['access_token']}"}


def test_a_request_through_the_gateway_is_found_in_the_central_logs(
    shop: RunningPlatform, admin: dict[str, str]
):
    gateway = shop.url("gateway")
    request_id = f"e2e-{uuid.uuid4().hex[:12]}"
    listed = httpx.get(f"{gateway}{API}/products", headers={"X-Request-ID": request_id})
    assert listed.status_code == 200

    def services_that_logged() -> set[str] | None:
        found = httpx.get(
            f"{gateway}{API}/logs", params={"request_id": request_id}, headers=admin, timeout=30
        )
        assert found.status_code == 200, found.text
        services = {r["service"] for r in found.json()["items"]}
        return services if {"gateway", "product"} <= services else None

    assert eventually(services_that_logged, what="the request's records") >= {
        "gateway",
        "product",
    }


def test_the_seed_admins_actions_are_in_a_valid_audit_trail(
    shop: RunningPlatform, admin: dict[str, str]
):
    gateway = shop.url("gateway")

    def products_created() -> list[dict] | None:
        found = httpx.get(
            f"{gateway}{API}/audit",
            params={"action": "product.created"},
            headers=admin,
            timeout=30,
        )
        assert found.status_code == 200, found.text
        return found.json()["items"] or None

    created = eventually(products_created, what="audit records of the seeded products")
    seed_admin = jwt_claims(admin["Authorization"].removeprefix("Bearer "))["sub"]
    assert {r["actor"] for r in created} == {seed_admin}
    verified = httpx.get(f"{gateway}{API}/audit/verify", headers=admin, timeout=60)
    assert verified.status_code == 200
    assert verified.json()["valid"] is True
    assert verified.json()["checked"] >= len(created)


def test_the_log_ingest_is_not_reachable_through_the_gateway(shop: RunningPlatform):
    shipped = httpx.post(f"{shop.url('gateway')}/v1/logs", content=b"{}", timeout=30)
    assert shipped.status_code == 404
