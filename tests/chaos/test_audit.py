"""The audit finds each inconsistency it promises to, in a database crafted to hold it.

Each test starts from a small shop whose books agree (one confirmed, paid order; stock set
by an administrator, part of it sold), breaks one thing the way a lost message or a
half-done saga would, and expects exactly that check to count it, and no other.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import nats
import pytest
from nats.js.api import AckPolicy, ConsumerConfig

from mercato.chaos import audit
from mercato.platform.events import ensure_stream, stream_name, subject_for
from tests.conftest import Databases, EngineSet
from tests.integration.platform.held_profile import connect

NOW = datetime.now(UTC)


@dataclass
class Shop:
    """Crafted databases of every service the audit reads, and an event stream."""

    urls: dict[str, str]
    nats_url: str
    prefix: str
    connections: dict[str, asyncpg.Connection]

    def sources(self, **overrides: Any) -> audit.Sources:
        """What the audit reads for this shop."""
        return audit.Sources(
            database_urls=self.urls, nats_url=self.nats_url, event_prefix=self.prefix, **overrides
        )

    async def counts(self, **overrides: Any) -> dict[str, int]:
        """The audit's counts, with only the non-zero ones kept."""
        report = await audit.audit(self.sources(**overrides))
        return {check: n for check, n in report.counts().items() if n}

    async def order(self, *, status: str = "confirmed", step: str | None = None) -> uuid.UUID:
        """An order, paid for when confirmed; its id."""
        order_id, charge_id = uuid.uuid4(), uuid.uuid4()
        if status == "confirmed":
            await self.charge(order_id, charge_id=charge_id)
        await self.connections["order"].execute(
            "INSERT INTO orders (id, user_id, status, step, total_amount, currency, "
            "shipping_address, payment_method_id, charge_key, charge_id, needs_refund, "
            "attempts, lease_until, created_at, updated_at) "
            "VALUES ($1, $2, $3, $4, 1000, 'EUR', '{}'::jsonb, $2, $5, $6, false, 0, $7, $7, $7)",
            order_id,
            uuid.uuid4(),
            status,
            step,
            f"order:{order_id}",
            charge_id if status == "confirmed" else None,
            NOW - timedelta(minutes=5),
        )
        return order_id

    async def charge(
        self, order_id: uuid.UUID, *, charge_id: uuid.UUID | None = None, status: str = "succeeded"
    ) -> uuid.UUID:
        """A charge of 10 EUR for ``order_id``; its id."""
        payment = self.connections["payment"]
        method = uuid.uuid4()
        await payment.execute(
            "INSERT INTO payment_methods (id, customer_id, brand, last4, exp_month, exp_year, "
            "processor_token, created_at) VALUES ($1, $1, 'visa', '4242', 12, 2040, 'tok', $2)",
            method,
            NOW,
        )
        charge_id = charge_id or uuid.uuid4()
        await payment.execute(
            "INSERT INTO charges (id, principal, idempotency_key, request_hash, order_id, "
            "customer_id, payment_method_id, amount, currency, status, refunded_amount, "
            "created_at, updated_at) "
            "VALUES ($1, 'order', $2, 'hash', $3, $4, $4, 1000, 'EUR', $5, 0, $6, $6)",
            charge_id,
            str(charge_id),
            order_id,
            method,
            status,
            NOW,
        )
        return charge_id

    async def stock(self, sku: str, *, set_to: int, sold: int = 0, held: int = 0) -> None:
        """``sku`` set to ``set_to`` units by an admin; ``sold`` committed, ``held`` held."""
        inventory = self.connections["inventory"]
        await inventory.execute(
            "INSERT INTO stock (sku, on_hand, reserved, low_stock_threshold, updated_at) "
            "VALUES ($1, $2, $3, 0, $4)",
            sku,
            set_to - sold,
            held,
            NOW,
        )
        await inventory.execute(
            "INSERT INTO stock_adjustments (id, sku, kind, delta, on_hand_after, reason, actor, "
            "created_at) VALUES ($1, $2, 'set', $3, $3, 'test', 'admin', $4)",
            uuid.uuid4(),
            sku,
            set_to,
            NOW,
        )
        if sold:
            await self.reservation(sku, sold, status="committed")
        if held:
            await self.reservation(sku, held, status="held")

    async def reservation(
        self,
        sku: str,
        quantity: int,
        *,
        status: str,
        order_id: uuid.UUID | None = None,
        expires_at: datetime | None = None,
    ) -> uuid.UUID:
        """A reservation of ``quantity`` units of ``sku``; its id."""
        inventory = self.connections["inventory"]
        reservation_id = uuid.uuid4()
        await inventory.execute(
            "INSERT INTO reservations (id, order_id, status, expires_at, created_at, updated_at) "
            "VALUES ($1, $2, $3, $4, $5, $5)",
            reservation_id,
            order_id or uuid.uuid4(),
            status,
            expires_at or NOW + timedelta(minutes=15),
            NOW,
        )
        await inventory.execute(
            "INSERT INTO reservation_items (reservation_id, sku, quantity) VALUES ($1, $2, $3)",
            reservation_id,
            sku,
            quantity,
        )
        return reservation_id


@pytest.fixture
async def shop(engines: EngineSet, databases: Databases) -> Any:
    """A consistent shop: one paid order, stock partly sold and held, every consumer idle."""
    services = {"order", "payment", "inventory", *audit.publishers()}
    urls = {name: await databases.fresh(name) for name in sorted(services)}
    connections = {name: await connect(url) for name, url in urls.items()}
    prefix = f"audit{uuid.uuid4().hex[:8]}"
    client = await nats.connect(engines.nats_url)
    js = client.jetstream()
    await ensure_stream(js, prefix)
    for consumer in audit.consumers():
        await js.add_consumer(
            stream_name(prefix),
            ConsumerConfig(
                durable_name=consumer,
                filter_subject=subject_for(prefix, f"{consumer}.test"),
                ack_policy=AckPolicy.EXPLICIT,
            ),
        )
    await client.close()
    built = Shop(urls, engines.nats_url, prefix, connections)
    await built.order()
    await built.stock("MUG-1", set_to=10, sold=2, held=1)
    try:
        yield built
    finally:
        for conn in connections.values():
            await conn.close()
        await databases.drop_created()


async def test_a_consistent_shop_audits_clean(shop: Shop) -> None:
    report = await audit.audit(shop.sources())

    assert report.clean
    assert len(report.findings) == len(audit.CHECKS)


async def test_a_confirmed_order_whose_charge_was_declined_is_found(shop: Shop) -> None:
    order_id = await shop.order(status="pending")
    charge_id = await shop.charge(order_id, status="declined")
    await shop.connections["order"].execute(
        "UPDATE orders SET status = 'confirmed', charge_id = $2 WHERE id = $1", order_id, charge_id
    )

    assert await shop.counts() == {"confirmed orders without a captured charge": 1}


async def test_a_charge_for_an_order_that_does_not_exist_is_found(shop: Shop) -> None:
    await shop.charge(uuid.uuid4())

    assert await shop.counts() == {"charges without an order": 1}


async def test_an_order_charged_twice_is_found(shop: Shop) -> None:
    order_id = await shop.order()
    await shop.charge(order_id)

    assert await shop.counts() == {"orders charged twice": 1}


async def test_stock_below_zero_is_found(shop: Shop) -> None:
    inventory = shop.connections["inventory"]
    # The table refuses it; the audit must not rely on that, so the test lifts the guard.
    for name in await inventory.fetch(
        "SELECT conname FROM pg_constraint WHERE conrelid = 'stock'::regclass AND contype = 'c'"
    ):
        await inventory.execute(f'ALTER TABLE stock DROP CONSTRAINT "{name["conname"]}"')
    await shop.stock("CUP-1", set_to=0)
    await inventory.execute("UPDATE stock SET on_hand = -1, reserved = 0 WHERE sku = 'CUP-1'")
    await inventory.execute("UPDATE stock_adjustments SET delta = -1 WHERE sku = 'CUP-1'")

    assert await shop.counts() == {"stock below zero": 1}


async def test_units_held_without_a_reservation_are_found(shop: Shop) -> None:
    await shop.connections["inventory"].execute(
        "UPDATE stock SET reserved = reserved + 1 WHERE sku = 'MUG-1'"
    )

    assert await shop.counts() == {"stock not matching reservations": 1}


async def test_units_sold_but_still_on_hand_are_found(shop: Shop) -> None:
    await shop.reservation("MUG-1", 1, status="committed")

    assert await shop.counts() == {"stock not matching reservations": 1}


async def test_an_expired_hold_of_a_failed_order_is_found(shop: Shop) -> None:
    order_id = await shop.order(status="failed")
    await shop.stock("CUP-1", set_to=5)
    await shop.reservation(
        "CUP-1", 1, status="held", order_id=order_id, expires_at=NOW - timedelta(minutes=1)
    )
    await shop.connections["inventory"].execute("UPDATE stock SET reserved = 1 WHERE sku = 'CUP-1'")

    assert await shop.counts() == {"reservations held by failed orders after expiry": 1}


async def test_an_order_left_pending_is_found_once_it_should_have_ended(shop: Shop) -> None:
    await shop.order(status="pending", step="reserve")

    assert await shop.counts() == {"orders not terminal": 1}
    assert await shop.counts(terminal_before=NOW - timedelta(hours=1)) == {}


async def test_a_confirmed_order_with_a_refund_still_to_do_is_not_terminal(shop: Shop) -> None:
    await shop.order(step="refund")

    assert await shop.counts() == {"orders not terminal": 1}


async def test_an_event_left_in_an_outbox_is_found(shop: Shop) -> None:
    publisher = audit.publishers()[0]
    await shop.connections[publisher].execute(
        "INSERT INTO outbox (id, type, subject, envelope, created_at) "
        "VALUES ($1, 'test.happened', 'x', '{}'::jsonb, $2)",
        uuid.uuid4(),
        NOW,
    )

    assert await shop.counts() == {"events never published": 1}


async def test_an_event_no_consumer_took_is_found(shop: Shop) -> None:
    consumer = audit.consumers()[0]
    client = await nats.connect(shop.nats_url)
    try:
        await client.jetstream().publish(subject_for(shop.prefix, f"{consumer}.test"), b"{}")
    finally:
        await client.close()

    assert await shop.counts() == {"events never consumed": 1}


async def test_a_declared_consumer_missing_from_the_stream_is_found(shop: Shop) -> None:
    consumer = audit.consumers()[0]
    client = await nats.connect(shop.nats_url)
    try:
        await client.jetstream().delete_consumer(stream_name(shop.prefix), consumer)
    finally:
        await client.close()

    assert await shop.counts() == {"events never consumed": 1}
