"""What the long fuzzing run found, kept as specifications (docs/RESILIENCE.md, Fuzzing)."""

from __future__ import annotations

from mercato import catalog
from tests.security.platform import Platform

API = catalog.API_PREFIX


async def test_a_price_filter_beyond_any_price_is_422_not_a_database_error(platform: Platform):
    gateway = platform.gateway.client
    for bound in ("min_price", "max_price"):
        answer = await gateway.get(f"{API}/products", params={bound: 19645469920989194223616})
        assert answer.status_code == 422, answer.text
    assert (await gateway.get(f"{API}/products", params={"max_price": 10**12})).status_code == 200


async def test_a_nul_character_in_a_body_is_422_not_a_database_error(platform: Platform):
    gateway, root = platform.gateway.client, platform.callers.root
    answer = await gateway.put(
        f"{API}/inventory/MUG-1", json={"on_hand": 3, "reason": "count\x00ed"}, headers=root
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"][0]["loc"] == ["body", "reason"]
    nested = await gateway.post(
        f"{API}/products",
        json={
            "sku": "NUL-1",
            "name": "Nul",
            "price": {"amount": 100, "currency": "EUR"},
            "attributes": {"colour": "bl\x00ue"},
        },
        headers=root,
    )
    assert nested.status_code == 422, nested.text


async def test_a_nul_character_in_a_path_or_query_is_422(platform: Platform):
    gateway = platform.gateway.client
    for url in (f"{API}/products?q=mu%00g", f"{API}/inventory/MUG%001"):
        answer = await gateway.get(url)
        assert answer.status_code == 422, (url, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
