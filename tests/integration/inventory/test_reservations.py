"""Reservations on real PostgreSQL: all or nothing, no overselling under concurrency,
idempotent per order, expiry, commit/release/return, and who may call what."""

from __future__ import annotations

import asyncio
import random
import uuid

import pytest
from sqlalchemy import text

from mercato.platform.db import Database
from mercato.services.inventory.service import Inventory
from tests.conftest import Harness
from tests.integration.accounts import (
    admin,
    customer,
    scalar,
    service,
    signed_service_token,
    wait_for,
)

INVENTORY = "/api/v1/inventory"
RESERVATIONS = f"{INVENTORY}/reservations"


@pytest.fixture
async def store(harness: Harness):
    auth = await harness.start("auth")
    inventory = await harness.start("inventory", sweep_interval_seconds=0.1)
    root = await admin(auth)
    order = await service(auth, "order")
    return auth, inventory, root, order


async def stock(inventory, root, **units: int) -> None:
    for sku, on_hand in units.items():
        done = await inventory.client.put(
            f"{INVENTORY}/{sku}", json={"on_hand": on_hand}, headers=root
        )
        assert done.status_code == 200, done.text


async def reserve(inventory, order, items, *, order_id=None, ttl_seconds=None):
    body = {
        "order_id": str(order_id or uuid.uuid4()),
        "items": [{"sku": s, "quantity": q} for s, q in items],
    }
    if ttl_seconds is not None:
        body["ttl_seconds"] = ttl_seconds
    return await inventory.client.post(RESERVATIONS, json=body, headers=order)


async def units(inventory) -> dict[str, tuple[int, int]]:
    """(on_hand, reserved) of every SKU, read from the database."""
    rows = await scalar(
        inventory,
        "SELECT coalesce(jsonb_object_agg(sku, jsonb_build_array(on_hand, reserved)), '{}') "
        "FROM stock",
    )
    return {sku: (pair[0], pair[1]) for sku, pair in rows.items()}


async def test_a_reservation_holds_every_line_or_none(store):
    _, inventory, root, order = store
    await stock(inventory, root, A=5, B=2)
    short = await reserve(inventory, order, [("A", 3), ("B", 3), ("C", 1)])
    assert short.status_code == 409
    assert short.headers["content-type"] == "application/problem+json"
    assert short.json()["short"] == [
        {"sku": "B", "requested": 3, "available": 2},
        {"sku": "C", "requested": 1, "available": 0},
    ]
    assert await units(inventory) == {"A": (5, 0), "B": (2, 0)}
    assert await scalar(inventory, "SELECT count(*) FROM reservations") == 0

    held = await reserve(inventory, order, [("A", 2), ("B", 2), ("A", 1)])
    assert held.status_code == 201, held.text
    body = held.json()
    assert body["status"] == "held"
    assert body["items"] == [{"sku": "A", "quantity": 3}, {"sku": "B", "quantity": 2}]
    assert body["expires_at"] > body["created_at"]
    assert await units(inventory) == {"A": (5, 3), "B": (2, 2)}
    assert (await inventory.client.get(f"{INVENTORY}/A")).json()["available"] == 2
    fetched = await inventory.client.get(f"{RESERVATIONS}/{body['id']}", headers=order)
    assert fetched.json() == body


async def test_bad_reservation_requests_are_refused(store):
    _, inventory, root, order = store
    await stock(inventory, root, A=5)
    for items, ttl in (([("A", 0)], None), ([("A", -1)], None), ([], None), ([("A", 1)], 10**6)):
        refused = await reserve(inventory, order, items, ttl_seconds=ttl)
        assert refused.status_code == 422, (items, ttl, refused.text)
    missing = await inventory.client.get(f"{RESERVATIONS}/{uuid.uuid4()}", headers=order)
    assert missing.status_code == 404
    for action in ("commit", "release"):
        assert (
            await inventory.client.post(f"{RESERVATIONS}/{uuid.uuid4()}/{action}", headers=order)
        ).status_code == 404


async def test_fifty_buyers_for_ten_units_leave_ten_reserved_and_none_negative(store):
    _, inventory, root, order = store
    await stock(inventory, root, LAST=10)
    answers = await asyncio.gather(*(reserve(inventory, order, [("LAST", 1)]) for _ in range(50)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses.count(201) == 10, statuses
    assert statuses.count(409) == 40, statuses
    assert await units(inventory) == {"LAST": (10, 10)}
    assert await scalar(inventory, "SELECT count(*) FROM reservations") == 10
    assert await scalar(inventory, "SELECT sum(quantity) FROM reservation_items") == 10


async def test_concurrent_multi_line_orders_never_deadlock_or_split(store):
    _, inventory, root, order = store
    await stock(inventory, root, X=20, Y=20, Z=20)
    rng = random.Random(7)

    def lines() -> list[tuple[str, int]]:
        chosen = rng.sample(["X", "Y", "Z"], k=rng.choice([2, 3]))
        return [(sku, rng.randint(1, 3)) for sku in chosen]

    wanted = [lines() for _ in range(40)]
    answers = await asyncio.gather(*(reserve(inventory, order, w) for w in wanted))
    assert {a.status_code for a in answers} <= {201, 409}
    held: dict[str, int] = {"X": 0, "Y": 0, "Z": 0}
    for answer, lines_wanted in zip(answers, wanted, strict=True):
        if answer.status_code == 201:
            for sku, quantity in lines_wanted:
                held[sku] += quantity
    assert await units(inventory) == {sku: (20, held[sku]) for sku in held}
    assert all(0 <= n <= 20 for n in held.values())


async def test_retries_of_one_order_reserve_once(store):
    _, inventory, root, order = store
    await stock(inventory, root, A=100)
    order_id = uuid.uuid4()
    answers = await asyncio.gather(
        *(reserve(inventory, order, [("A", 7)], order_id=order_id) for _ in range(20))
    )
    assert sorted(a.status_code for a in answers) == [200] * 19 + [201]
    assert len({a.json()["id"] for a in answers}) == 1
    assert await units(inventory) == {"A": (100, 7)}
    # Even a retry asking for something else gets the order's reservation back.
    again = await reserve(inventory, order, [("A", 50)], order_id=order_id)
    assert again.status_code == 200
    assert again.json()["items"] == [{"sku": "A", "quantity": 7}]


async def test_commit_release_and_return_are_idempotent(store):
    _, inventory, root, order = store
    await stock(inventory, root, A=10)
    held = (await reserve(inventory, order, [("A", 4)])).json()
    url = f"{RESERVATIONS}/{held['id']}"

    for _ in range(2):
        committed = await inventory.client.post(f"{url}/commit", headers=order)
        assert committed.status_code == 200, committed.text
        assert committed.json()["status"] == "committed"
        assert await units(inventory) == {"A": (6, 0)}
    for _ in range(2):
        returned = await inventory.client.post(f"{url}/release", headers=order)
        assert returned.status_code == 200
        assert returned.json()["status"] == "returned"
        assert await units(inventory) == {"A": (10, 0)}
    refused = await inventory.client.post(f"{url}/commit", headers=order)
    assert refused.status_code == 409
    assert refused.json()["reservation_status"] == "returned"

    other = (await reserve(inventory, order, [("A", 3)])).json()
    url = f"{RESERVATIONS}/{other['id']}"
    for _ in range(2):
        released = await inventory.client.post(f"{url}/release", headers=order)
        assert released.json()["status"] == "released"
        assert await units(inventory) == {"A": (10, 0)}
    assert (await inventory.client.post(f"{url}/commit", headers=order)).status_code == 409
    assert await units(inventory) == {"A": (10, 0)}


async def test_expired_reservations_are_released_by_the_sweeper(store):
    _, inventory, root, order = store
    await stock(inventory, root, A=10)
    held = (await reserve(inventory, order, [("A", 6)], ttl_seconds=1)).json()
    assert await units(inventory) == {"A": (10, 6)}
    status = await wait_for(
        inventory, "SELECT status FROM reservations WHERE id = :id", "expired", id=held["id"]
    )
    assert status == "expired"
    assert await units(inventory) == {"A": (10, 0)}
    url = f"{RESERVATIONS}/{held['id']}"
    late = await inventory.client.post(f"{url}/commit", headers=order)
    assert late.status_code == 409
    released = await inventory.client.post(f"{url}/release", headers=order)
    assert released.status_code == 200
    assert released.json()["status"] == "expired"
    assert await units(inventory) == {"A": (10, 0)}


async def test_an_overdue_reservation_cannot_be_committed_before_the_sweeper_runs(harness):
    auth = await harness.start("auth")
    inventory = await harness.start("inventory", sweep_interval_seconds=3600)
    root, order = await admin(auth), await service(auth, "order")
    await stock(inventory, root, A=10)
    held = (await reserve(inventory, order, [("A", 6)], ttl_seconds=60)).json()
    database = inventory.app.state.platform.database
    async with database.sessionmaker() as session, session.begin():
        await session.execute(text("UPDATE reservations SET expires_at = now() - interval '1 s'"))
    late = await inventory.client.post(f"{RESERVATIONS}/{held['id']}/commit", headers=order)
    assert late.status_code == 409
    assert late.json()["reservation_status"] == "expired"
    assert await units(inventory) == {"A": (10, 0)}


async def test_sweepers_of_several_replicas_release_each_reservation_once(store):
    _, inventory, root, order = store
    await stock(inventory, root, A=100, B=100)
    for i in range(60):
        done = await reserve(inventory, order, [("A", 1), ("B", 1 + i % 2)], ttl_seconds=3600)
        assert done.status_code == 201
    assert await units(inventory) == {"A": (100, 60), "B": (100, 90)}
    settings = inventory.settings.model_copy(update={"sweep_batch_size": 3})
    replicas = [Database(settings.database_url, pool_size=2, source="inventory") for _ in range(3)]
    try:
        sweepers = [Inventory(settings=settings, unit_of_work=db.unit_of_work) for db in replicas]
        async with replicas[0].sessionmaker() as session, session.begin():
            await session.execute(text("UPDATE reservations SET expires_at = now()"))

        async def sweep(inventory: Inventory) -> int:
            total = 0
            while released := await inventory.expire_overdue():
                total += released
            return total

        swept = await asyncio.gather(*(sweep(s) for s in sweepers))
    finally:
        for db in replicas:
            await db.close()
    # The running service's own sweeper (every 0.1 s, batches of 100) may have taken some,
    # or all, too; together, each exactly once. The replicas skip the rows it has locked
    # and may be done before its transaction commits: wait for that commit.
    assert sum(swept) <= 60
    released = {"A": (100, 0), "B": (100, 0)}
    deadline = asyncio.get_running_loop().time() + 30
    while (found := await units(inventory)) != released:
        assert asyncio.get_running_loop().time() < deadline, found
        await asyncio.sleep(0.05)
    assert (
        await scalar(inventory, "SELECT count(*) FROM reservations WHERE status = 'expired'") == 60
    )


async def test_only_the_order_service_may_reserve(store):
    auth, inventory, root, order = store
    await stock(inventory, root, A=10)
    held = (await reserve(inventory, order, [("A", 1)])).json()
    cust = await customer(auth)
    # A genuine service token, but of a service that does not depend on inventory.
    stranger = signed_service_token(auth, "user")
    for headers, expected in ((cust, 403), (root, 403), (stranger, 403), ({}, 401)):
        assert (await reserve(inventory, headers, [("A", 1)])).status_code == expected
        for action in ("commit", "release"):
            assert (
                await inventory.client.post(
                    f"{RESERVATIONS}/{held['id']}/{action}", headers=headers
                )
            ).status_code == expected
    assert (
        await inventory.client.get(f"{RESERVATIONS}/{held['id']}", headers=cust)
    ).status_code == 403
    # Administrators may look at a reservation.
    assert (
        await inventory.client.get(f"{RESERVATIONS}/{held['id']}", headers=root)
    ).status_code == 200
    assert await units(inventory) == {"A": (10, 1)}
