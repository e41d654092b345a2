"""inventory's stock administration: counts, adjustments with reasons, low-stock events."""

from __future__ import annotations

import jwt
import pytest

from tests.conftest import Harness
from tests.integration.accounts import admin, customer, scalar

INVENTORY = "/api/v1/inventory"


@pytest.fixture
async def store(harness: Harness):
    auth = await harness.start("auth")
    inventory = await harness.start("inventory")
    return auth, inventory, await admin(auth)


async def test_unknown_skus_have_nothing_available(store):
    _, inventory, _ = store
    shown = await inventory.client.get(f"{INVENTORY}/NEVER-1")
    assert shown.status_code == 200
    assert shown.json() == {"sku": "NEVER-1", "available": 0}
    assert (await inventory.client.get(f"{INVENTORY}/bad%20sku")).status_code == 422


async def test_admins_set_and_adjust_stock_with_reasons_kept(store):
    _, inventory, root = store
    counted = await inventory.client.put(
        f"{INVENTORY}/MUG-1",
        json={"on_hand": 40, "low_stock_threshold": 3, "reason": "initial count"},
        headers=root,
    )
    assert counted.status_code == 200, counted.text
    assert counted.json() == {
        "sku": "MUG-1",
        "on_hand": 40,
        "reserved": 0,
        "available": 40,
        "low_stock_threshold": 3,
    }
    delivered = await inventory.client.post(
        f"{INVENTORY}/MUG-1/adjust", json={"delta": 12, "reason": "delivery 4711"}, headers=root
    )
    assert delivered.json()["on_hand"] == 52
    broken = await inventory.client.post(
        f"{INVENTORY}/MUG-1/adjust", json={"delta": -2, "reason": "dropped two"}, headers=root
    )
    assert broken.json()["on_hand"] == 50
    assert (await inventory.client.get(f"{INVENTORY}/MUG-1")).json()["available"] == 50

    # Removing more than there is, a zero change and a missing reason are refused.
    too_many = await inventory.client.post(
        f"{INVENTORY}/MUG-1/adjust", json={"delta": -51, "reason": "theft"}, headers=root
    )
    assert too_many.status_code == 409
    assert too_many.headers["content-type"] == "application/problem+json"
    for body in ({"delta": 0, "reason": "nothing"}, {"delta": 5}, {"delta": 5, "reason": ""}):
        refused = await inventory.client.post(f"{INVENTORY}/MUG-1/adjust", json=body, headers=root)
        assert refused.status_code == 422, body
    assert (
        await inventory.client.put(f"{INVENTORY}/MUG-1", json={"on_hand": -1}, headers=root)
    ).status_code == 422
    # A count that finds the same number changes nothing and logs nothing.
    same = await inventory.client.put(f"{INVENTORY}/MUG-1", json={"on_hand": 50}, headers=root)
    assert same.status_code == 200

    log = await inventory.client.get(f"{INVENTORY}/MUG-1/adjustments", headers=root)
    assert log.status_code == 200
    entries = [
        (e["kind"], e["delta"], e["on_hand_after"], e["reason"]) for e in log.json()["items"]
    ]
    assert entries == [
        ("adjust", -2, 50, "dropped two"),
        ("adjust", 12, 52, "delivery 4711"),
        ("set", 40, 40, "initial count"),
    ]
    admin_id = jwt.decode(root["Authorization"].split()[1], options={"verify_signature": False})
    assert {e["actor"] for e in log.json()["items"]} == {admin_id["sub"]}
    first = await inventory.client.get(
        f"{INVENTORY}/MUG-1/adjustments", params={"limit": 2}, headers=root
    )
    rest = await inventory.client.get(
        f"{INVENTORY}/MUG-1/adjustments",
        params={"limit": 2, "cursor": first.json()["next_cursor"]},
        headers=root,
    )
    assert [e["reason"] for e in rest.json()["items"]] == ["initial count"]


async def test_customers_and_anonymous_callers_cannot_administer_stock(store):
    auth, inventory, _ = store
    cust = await customer(auth)
    for headers, expected in ((cust, 403), ({}, 401)):
        assert (
            await inventory.client.put(f"{INVENTORY}/X-1", json={"on_hand": 5}, headers=headers)
        ).status_code == expected
        assert (
            await inventory.client.post(
                f"{INVENTORY}/X-1/adjust", json={"delta": 5, "reason": "x"}, headers=headers
            )
        ).status_code == expected
        assert (
            await inventory.client.get(f"{INVENTORY}/X-1/adjustments", headers=headers)
        ).status_code == expected
    assert await scalar(inventory, "SELECT count(*) FROM stock") == 0


async def low_stock_events(inventory) -> list[dict]:
    return await scalar(
        inventory,
        "SELECT coalesce(array_agg(envelope->'data' ORDER BY position), '{}') FROM outbox "
        "WHERE type = 'inventory.low_stock'",
    )


async def test_low_stock_is_announced_once_per_crossing(store):
    _, inventory, root = store
    url = f"{INVENTORY}/LMP-1"
    await inventory.client.put(url, json={"on_hand": 10, "low_stock_threshold": 5}, headers=root)
    assert await low_stock_events(inventory) == []  # a new SKU starts from nothing: no crossing

    async def adjust(delta: int) -> None:
        done = await inventory.client.post(
            f"{url}/adjust", json={"delta": delta, "reason": "test"}, headers=root
        )
        assert done.status_code == 200, done.text

    await adjust(-5)  # 5 left: not below 5 yet
    assert await low_stock_events(inventory) == []
    await adjust(-1)  # 4: crossed
    await adjust(-1)  # 3: still below, no second event
    await adjust(-3)  # 0
    assert await low_stock_events(inventory) == [{"sku": "LMP-1", "available": 4, "threshold": 5}]
    await adjust(+10)  # back above
    await adjust(-8)  # 2: a second crossing
    assert await low_stock_events(inventory) == [
        {"sku": "LMP-1", "available": 4, "threshold": 5},
        {"sku": "LMP-1", "available": 2, "threshold": 5},
    ]
    # Raising the threshold above what is left is a crossing too (0 disables alerts).
    await inventory.client.put(url, json={"on_hand": 2, "low_stock_threshold": 0}, headers=root)
    await inventory.client.put(url, json={"on_hand": 2, "low_stock_threshold": 3}, headers=root)
    assert len(await low_stock_events(inventory)) == 3


async def test_stock_changes_by_admins_are_published_with_actor_and_reason(store):
    auth, inventory, root = store
    admin_id = str(await scalar(auth, "SELECT id FROM users WHERE email = 'root@example.com'"))
    await inventory.client.put(
        f"{INVENTORY}/CUP-1", json={"on_hand": 10, "reason": "count"}, headers=root
    )
    await inventory.client.post(
        f"{INVENTORY}/CUP-1/adjust", json={"delta": -2, "reason": "broken"}, headers=root
    )
    rows = await scalar(
        inventory,
        "SELECT json_agg(envelope ORDER BY created_at) FROM outbox "
        "WHERE type IN ('inventory.stock_set', 'inventory.stock_adjusted')",
    )
    assert [(e["type"], e["data"]) for e in rows] == [
        (
            "inventory.stock_set",
            {"sku": "CUP-1", "delta": 10, "on_hand": 10, "reason": "count", "actor": admin_id},
        ),
        (
            "inventory.stock_adjusted",
            {"sku": "CUP-1", "delta": -2, "on_hand": 8, "reason": "broken", "actor": admin_id},
        ),
    ]
    # The envelope names who caused the change too, as every event written in a request does.
    assert {e["actor"] for e in rows} == {admin_id}
