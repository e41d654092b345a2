"""The audit after a fault: SQL against each service's database and JetStream consumer info.

Every check counts what must not exist once the platform has settled: money without an
order, an order without its money, stock that does not add up, events stuck on the way.
A clean platform shows zero everywhere. The checks read the databases as they are (no
service code is imported), so they hold whatever the services believe about themselves.
Checks that join two services' data read each side and compare here: the databases are
separate and may live on separate servers.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg
import nats
from nats.js.errors import NotFoundError
from sqlalchemy.engine import make_url

from mercato import catalog
from mercato.platform.events import stream_name

# How many offending ids a finding quotes, so a report stays readable.
EXAMPLES = 5


@dataclass(frozen=True)
class Finding:
    """One check's result: how many things are wrong, and a few of them."""

    check: str
    count: int
    examples: tuple[str, ...] = ()


@dataclass(frozen=True)
class AuditReport:
    """Every check's finding, in the order they ran."""

    findings: tuple[Finding, ...]

    @property
    def clean(self) -> bool:
        """True when every check found nothing."""
        return all(f.count == 0 for f in self.findings)

    def counts(self) -> dict[str, int]:
        """Check name to count."""
        return {f.check: f.count for f in self.findings}

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data."""
        return {
            "clean": self.clean,
            "findings": [
                {"check": f.check, "count": f.count, "examples": list(f.examples)}
                for f in self.findings
            ],
        }


@dataclass
class Sources:
    """Where the audit reads: each service's database URL, and the event stream."""

    database_urls: Mapping[str, str]
    nats_url: str | None = None
    event_prefix: str = "mercato"
    # Orders created before this moment must be terminal (the fault's end + 60 s).
    terminal_before: datetime | None = None
    _connections: dict[str, asyncpg.Connection] = field(default_factory=dict)

    async def connection(self, service: str) -> asyncpg.Connection:
        """A connection to ``service``'s database, opened once per audit."""
        if service not in self._connections:
            url = make_url(self.database_urls[service])
            self._connections[service] = await asyncpg.connect(
                host=url.host,
                port=url.port,
                user=url.username,
                password=url.password,
                database=url.database,
            )
        return self._connections[service]

    async def close(self) -> None:
        """Closes the connections the audit opened."""
        connections, self._connections = self._connections, {}
        for conn in connections.values():
            with contextlib.suppress(Exception):
                await conn.close()


def _finding(check: str, ids: list[Any]) -> Finding:
    return Finding(check, len(ids), tuple(str(i) for i in ids[:EXAMPLES]))


async def confirmed_without_captured_charge(sources: Sources) -> Finding:
    """Confirmed orders whose charge did not succeed in payment (or does not exist)."""
    orders = await sources.connection("order")
    payment = await sources.connection("payment")
    confirmed = await orders.fetch("SELECT id, charge_id FROM orders WHERE status = 'confirmed'")
    captured = {
        r["id"]
        for r in await payment.fetch(
            "SELECT id FROM charges WHERE status = 'succeeded' AND order_id = ANY($1::uuid[])",
            [r["id"] for r in confirmed],
        )
    }
    return _finding(
        "confirmed orders without a captured charge",
        [r["id"] for r in confirmed if r["charge_id"] not in captured],
    )


async def charges_without_order(sources: Sources) -> Finding:
    """Charges in payment whose order does not exist in order."""
    orders = await sources.connection("order")
    payment = await sources.connection("payment")
    charged = await payment.fetch("SELECT id, order_id FROM charges")
    known = {
        r["id"]
        for r in await orders.fetch(
            "SELECT id FROM orders WHERE id = ANY($1::uuid[])", [r["order_id"] for r in charged]
        )
    }
    return _finding(
        "charges without an order", [r["id"] for r in charged if r["order_id"] not in known]
    )


async def orders_charged_twice(sources: Sources) -> Finding:
    """Orders with more than one successful charge."""
    payment = await sources.connection("payment")
    rows = await payment.fetch(
        "SELECT order_id FROM charges WHERE status = 'succeeded' "
        "GROUP BY order_id HAVING count(*) > 1 ORDER BY order_id"
    )
    return _finding("orders charged twice", [r["order_id"] for r in rows])


async def stock_below_zero(sources: Sources) -> Finding:
    """SKUs with negative units on hand, negative holds, or more held than on hand."""
    inventory = await sources.connection("inventory")
    rows = await inventory.fetch(
        "SELECT sku FROM stock WHERE on_hand < 0 OR reserved < 0 OR on_hand < reserved ORDER BY sku"
    )
    return _finding("stock below zero", [r["sku"] for r in rows])


async def stock_not_matching_reservations(sources: Sources) -> Finding:
    """SKUs whose counters disagree with their history.

    ``reserved`` must be the units of held reservations; ``on_hand`` must be what the
    administrators set (the adjustments' deltas) less the units of committed reservations
    (returned ones came back).
    """
    inventory = await sources.connection("inventory")
    rows = await inventory.fetch(
        """
        SELECT s.sku FROM stock s
        LEFT JOIN (
            SELECT i.sku,
                   sum(i.quantity) FILTER (WHERE r.status = 'held') AS held,
                   sum(i.quantity) FILTER (WHERE r.status = 'committed') AS committed
            FROM reservation_items i JOIN reservations r ON r.id = i.reservation_id
            GROUP BY i.sku
        ) h ON h.sku = s.sku
        LEFT JOIN (
            SELECT sku, sum(delta) AS set_by_admins FROM stock_adjustments GROUP BY sku
        ) a ON a.sku = s.sku
        WHERE s.reserved <> coalesce(h.held, 0)
           OR s.on_hand <> coalesce(a.set_by_admins, 0) - coalesce(h.committed, 0)
        ORDER BY s.sku
        """
    )
    return _finding("stock not matching reservations", [r["sku"] for r in rows])


async def expired_holds_of_failed_orders(sources: Sources) -> Finding:
    """Reservations still held past their expiry for orders that failed or were cancelled."""
    inventory = await sources.connection("inventory")
    orders = await sources.connection("order")
    held = await inventory.fetch(
        "SELECT id, order_id FROM reservations WHERE status = 'held' AND expires_at < now()"
    )
    ended = {
        r["id"]
        for r in await orders.fetch(
            "SELECT id FROM orders WHERE status IN ('failed', 'cancelled') "
            "AND id = ANY($1::uuid[])",
            [r["order_id"] for r in held],
        )
    }
    return _finding(
        "reservations held by failed orders after expiry",
        [r["id"] for r in held if r["order_id"] in ended],
    )


async def orders_not_terminal(sources: Sources) -> Finding:
    """Orders created before ``terminal_before`` that are still pending or mid-saga."""
    orders = await sources.connection("order")
    cutoff = sources.terminal_before
    rows = await orders.fetch(
        # Still needing work: the customer sees it pending, or the saga has a step left.
        "SELECT id FROM orders WHERE (status = 'pending' OR step IS NOT NULL) "
        "AND ($1::timestamptz IS NULL OR created_at < $1) ORDER BY created_at",
        cutoff,
    )
    return _finding("orders not terminal", [r["id"] for r in rows])


async def unpublished_events(sources: Sources) -> Finding:
    """Outbox rows not yet published, in every catalog service that publishes."""
    stuck: list[str] = []
    for service in publishers():
        conn = await sources.connection(service)
        rows = await conn.fetch(
            "SELECT type, id FROM outbox WHERE published_at IS NULL ORDER BY position"
        )
        stuck.extend(f"{service}:{r['type']}:{r['id']}" for r in rows)
    return _finding("events never published", stuck)


async def unconsumed_events(sources: Sources) -> Finding:
    """Messages a declared consumer has not taken or not acknowledged (or no consumer)."""
    if sources.nats_url is None:
        return Finding("events never consumed", 0)
    waiting: list[str] = []
    count = 0
    async with _jetstream(sources.nats_url) as js:
        for service in consumers():
            try:
                info = await js.consumer_info(stream_name(sources.event_prefix), service)
            except NotFoundError:
                waiting.append(f"{service}: no consumer")
                count += 1
                continue
            left = info.num_pending + info.num_ack_pending
            if left:
                waiting.append(
                    f"{service}: {info.num_pending} pending, {info.num_ack_pending} unacked"
                )
                count += left
    return Finding("events never consumed", count, tuple(waiting[:EXAMPLES]))


@contextlib.asynccontextmanager
async def _jetstream(url: str) -> AsyncIterator[Any]:
    client = await nats.connect(url, connect_timeout=5, max_reconnect_attempts=0)
    try:
        yield client.jetstream()
    finally:
        await client.close()


def publishers() -> list[str]:
    """Catalog services with an outbox: they publish and have a database."""
    return [s.name for s in catalog.SERVICES.values() if s.publishes and s.database]


def consumers() -> list[str]:
    """Catalog services holding a durable consumer on the event stream."""
    return [s.name for s in catalog.SERVICES.values() if s.consumes]


Check = Callable[[Sources], Awaitable[Finding]]
CHECKS: tuple[Check, ...] = (
    confirmed_without_captured_charge,
    charges_without_order,
    orders_charged_twice,
    stock_below_zero,
    stock_not_matching_reservations,
    expired_holds_of_failed_orders,
    orders_not_terminal,
    unpublished_events,
    unconsumed_events,
)


async def audit(sources: Sources) -> AuditReport:
    """Runs every check against ``sources``."""
    try:
        return AuditReport(tuple([await check(sources) for check in CHECKS]))
    finally:
        await sources.close()
