"""The audit trail: security events become hash-chained records, and tampering shows."""

from __future__ import annotations

import asyncio
import uuid

import orjson
from sqlalchemy import text

from mercato.contracts.events import EVENTS
from mercato.platform.envelope import Event, open_envelope
from mercato.services.log.service import record_audit_event
from tests.conftest import Harness, RunningService
from tests.integration.accounts import (
    admin,
    customer,
    envelope,
    publish_events,
    scalar,
    wait_for,
)

AUDIT = "/api/v1/audit"


def login_failed(email: str = "who@example.com") -> dict:
    return envelope("auth.login_failed", {"email": email, "client": "127.0.0.1"})


def roles_changed(user_id: uuid.UUID, actor: uuid.UUID) -> dict:
    return {
        **envelope(
            "auth.roles_changed",
            {
                "user_id": str(user_id),
                "before": ["customer"],
                "after": ["admin"],
                "actor": str(actor),
            },
        ),
        "subject": str(user_id),
    }


async def audited(harness: Harness, log: RunningService, envelopes: list[dict], *, total: int):
    """Publishes the events and waits until the trail holds ``total`` records."""
    await publish_events(harness, envelopes)
    assert await wait_for(log, "SELECT count(*) FROM audit_records", total) == total


async def verify(log: RunningService, headers: dict) -> dict:
    answer = await log.client.get(f"{AUDIT}/verify", headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json()


async def execute(log: RunningService, sql: str, **params) -> None:
    async with log.app.state.platform.database.sessionmaker() as session, session.begin():
        await session.execute(text(sql), params)


async def test_security_events_become_audit_records_with_their_actor(harness: Harness):
    auth = await harness.start("auth")
    log = await harness.start("log")
    inventory = await harness.start("inventory")
    root = await admin(auth)  # a login: auth.login_succeeded
    root_id = await scalar(auth, "SELECT id FROM users WHERE email = 'root@example.com'")
    counted = await inventory.client.put(
        "/api/v1/inventory/SKU-1", json={"on_hand": 7}, headers=root
    )
    assert counted.status_code == 200, counted.text
    assert (
        await wait_for(
            log, "SELECT count(*) FROM audit_records WHERE action = 'inventory.stock_set'", 1
        )
        == 1
    )

    listed = await log.client.get(AUDIT, params={"actor": str(root_id)}, headers=root)
    assert listed.status_code == 200, listed.text
    actions = [r["action"] for r in listed.json()["items"]]
    assert "auth.login_succeeded" in actions
    assert actions[0] == "inventory.stock_set"  # newest first
    stock_set = listed.json()["items"][0]
    assert stock_set["subject"] == "SKU-1"
    assert stock_set["detail"]["data"]["on_hand"] == 7
    assert set(stock_set) >= {"id", "at", "actor", "action", "subject", "detail", "hash"}

    only = await log.client.get(AUDIT, params={"action": "inventory.stock_set"}, headers=root)
    assert [r["action"] for r in only.json()["items"]] == ["inventory.stock_set"]


async def test_audit_trail_is_for_administrators(harness: Harness):
    auth = await harness.start("auth")
    log = await harness.start("log")
    shopper = await customer(auth)
    assert (await log.client.get(AUDIT, headers=shopper)).status_code == 403
    assert (await log.client.get(f"{AUDIT}/verify", headers=shopper)).status_code == 403
    assert (await log.client.get(AUDIT)).status_code == 401


async def test_a_redelivered_event_is_recorded_once(harness: Harness):
    auth = await harness.start("auth")
    log = await harness.start("log")
    root = await admin(auth)
    before = await wait_for(log, "SELECT count(*) FROM audit_records", 1)
    failed = login_failed()
    await audited(harness, log, [failed, failed], total=before + 1)
    assert await wait_for(log, "SELECT count(*) FROM inbox", before + 1) == before + 1
    assert await scalar(log, "SELECT count(*) FROM audit_records") == before + 1
    assert (await verify(log, root))["valid"] is True


async def test_an_altered_record_breaks_the_chain_at_that_record(harness: Harness):
    auth = await harness.start("auth")
    log = await harness.start("log")
    root = await admin(auth)
    await audited(harness, log, [login_failed(f"{i}@example.com") for i in range(4)], total=5)
    assert await verify(log, root) == {"valid": True, "checked": 5, "first_broken": None}

    altered = await scalar(log, "SELECT id FROM audit_records WHERE seq = 3")
    await execute(
        log,
        "UPDATE audit_records SET detail = jsonb_set(detail, '{data,email}', '\"x@example.com\"') "
        "WHERE seq = 3",
    )
    report = await verify(log, root)
    assert report["valid"] is False
    assert report["checked"] == 2
    assert report["first_broken"]["seq"] == 3
    assert report["first_broken"]["id"] == str(altered)
    metrics = (await log.client.get("/metrics")).text
    assert 'mercato_audit_chain_valid{service="log"} 0.0' in metrics


async def test_a_removed_record_breaks_the_chain_at_the_next_one(harness: Harness):
    auth = await harness.start("auth")
    log = await harness.start("log")
    root = await admin(auth)
    await audited(harness, log, [login_failed(f"{i}@example.com") for i in range(3)], total=4)
    await execute(log, "DELETE FROM audit_records WHERE seq = 2")
    report = await verify(log, root)
    assert report["valid"] is False
    assert report["checked"] == 1
    assert report["first_broken"]["seq"] == 3
    assert "missing" in report["first_broken"]["reason"]


async def test_removing_the_last_record_breaks_the_chain(harness: Harness):
    auth = await harness.start("auth")
    log = await harness.start("log")
    root = await admin(auth)
    await audited(harness, log, [login_failed()], total=2)
    await execute(log, "DELETE FROM audit_records WHERE seq = 2")
    report = await verify(log, root)
    assert report["valid"] is False
    assert report["checked"] == 1
    assert report["first_broken"]["seq"] == 2


async def test_concurrent_appends_are_chained_one_after_another(harness: Harness):
    auth = await harness.start("auth")
    log = await harness.start("log")
    root = await admin(auth)
    database = log.app.state.platform.database
    events: list[Event] = [
        open_envelope(orjson.dumps(roles_changed(uuid.uuid4(), uuid.uuid4())), EVENTS)
        for _ in range(12)
    ]

    async def append(event: Event) -> None:
        async with database.unit_of_work() as uow:
            await record_audit_event(event, uow)
            await uow.commit()

    await asyncio.gather(*(append(e) for e in events))
    total = await scalar(log, "SELECT count(*) FROM audit_records")
    assert total >= 12
    report = await verify(log, root)
    assert report == {"valid": True, "checked": total, "first_broken": None}
