"""Fakes of product, inventory and payment for the order use-case tests.

They stand in for the other services' use cases only; the order database is real.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from mercato.platform.errors import GatewayTimeout, ServiceUnavailable
from mercato.services.order.clients import (
    ChargeInProgress,
    ChargeResult,
    NothingToRefund,
    OutOfStock,
    PaymentRefused,
    ProductSnapshot,
    ReservationGone,
    StockLine,
)


class FakeProducts:
    """product's catalog."""

    def __init__(self) -> None:
        self.products: dict[uuid.UUID, ProductSnapshot] = {}

    def add(
        self, sku: str, price: int, *, name: str | None = None, active: bool = True
    ) -> uuid.UUID:
        product_id = uuid.uuid4()
        self.products[product_id] = ProductSnapshot(
            id=product_id,
            sku=sku,
            name=name or sku.title(),
            price=price,
            currency="EUR",
            active=active,
        )
        return product_id

    async def product(self, product_id: uuid.UUID) -> ProductSnapshot | None:
        return self.products.get(product_id)


@dataclass
class FakeReservation:
    id: uuid.UUID
    lines: list[StockLine]
    status: str = "held"


@dataclass
class FakeStock:
    """inventory: stock per SKU and reservations idempotent on the order id."""

    on_hand: dict[str, int] = field(default_factory=dict)
    reservations: dict[uuid.UUID, FakeReservation] = field(default_factory=dict)
    down: bool = False
    calls: list[str] = field(default_factory=list)

    def available(self, sku: str) -> int:
        held = sum(
            line.quantity
            for r in self.reservations.values()
            if r.status == "held"
            for line in r.lines
            if line.sku == sku
        )
        return self.on_hand.get(sku, 0) - held

    def _check(self) -> None:
        if self.down:
            raise ServiceUnavailable("inventory is unreachable")

    async def reserve(
        self, order_id: uuid.UUID, lines: Sequence[StockLine], ttl_seconds: int
    ) -> uuid.UUID:
        self.calls.append("reserve")
        self._check()
        if order_id in self.reservations:
            return self.reservations[order_id].id
        short = [
            {"sku": line.sku, "requested": line.quantity, "available": self.available(line.sku)}
            for line in lines
            if self.available(line.sku) < line.quantity
        ]
        if short:
            raise OutOfStock(short)
        self.reservations[order_id] = FakeReservation(uuid.uuid4(), list(lines))
        return self.reservations[order_id].id

    def _by_id(self, reservation_id: uuid.UUID) -> FakeReservation:
        return next(r for r in self.reservations.values() if r.id == reservation_id)

    async def commit(self, reservation_id: uuid.UUID) -> None:
        self.calls.append("commit")
        self._check()
        reservation = self._by_id(reservation_id)
        if reservation.status == "committed":
            return
        if reservation.status != "held":
            raise ReservationGone()
        reservation.status = "committed"
        for line in reservation.lines:
            self.on_hand[line.sku] -= line.quantity

    async def release(self, reservation_id: uuid.UUID) -> None:
        self.calls.append("release")
        self._check()
        reservation = self._by_id(reservation_id)
        if reservation.status == "held":
            reservation.status = "released"
        elif reservation.status == "committed":
            reservation.status = "returned"
            for line in reservation.lines:
                self.on_hand[line.sku] += line.quantity

    def expire(self, order_id: uuid.UUID) -> None:
        self.reservations[order_id].status = "expired"


@dataclass
class FakeCharge:
    id: uuid.UUID
    key: str
    order_id: uuid.UUID
    amount: int
    status: str
    decline_code: str | None = None
    refunded: int = 0

    def result(self) -> ChargeResult:
        return ChargeResult(self.id, self.status, self.decline_code, self.amount, self.refunded)


@dataclass
class FakeCashier:
    """payment: one charge per key; cards behave by payment method."""

    declined: set[uuid.UUID] = field(default_factory=set)
    slow: set[uuid.UUID] = field(default_factory=set)
    foreign: set[uuid.UUID] = field(default_factory=set)
    charges: dict[str, FakeCharge] = field(default_factory=dict)
    down: bool = False

    def _check(self) -> None:
        if self.down:
            raise ServiceUnavailable("payment is unreachable")

    async def charge(
        self,
        *,
        key: str,
        order_id: uuid.UUID,
        amount: int,
        currency: str,
        payment_method_id: uuid.UUID,
        customer_id: uuid.UUID,
    ) -> ChargeResult:
        self._check()
        if payment_method_id in self.foreign:
            raise PaymentRefused("The payment method does not belong to the customer.")
        existing = self.charges.get(key)
        if existing is not None:
            if existing.status == "processing":
                raise ChargeInProgress()
            return existing.result()
        if payment_method_id in self.slow:
            self.charges[key] = FakeCharge(uuid.uuid4(), key, order_id, amount, "processing")
            raise GatewayTimeout("payment did not answer in time")
        if payment_method_id in self.declined:
            charge = FakeCharge(uuid.uuid4(), key, order_id, amount, "declined", "card_declined")
        else:
            charge = FakeCharge(uuid.uuid4(), key, order_id, amount, "succeeded")
        self.charges[key] = charge
        return charge.result()

    def finish_slow_charges(self, status: str = "succeeded") -> None:
        for charge in self.charges.values():
            if charge.status == "processing":
                charge.status = status

    async def charges_for(self, order_id: uuid.UUID) -> list[ChargeResult]:
        self._check()
        return [c.result() for c in self.charges.values() if c.order_id == order_id]

    async def refund(self, charge_id: uuid.UUID) -> None:
        self._check()
        charge = next(c for c in self.charges.values() if c.id == charge_id)
        if charge.refunded >= charge.amount:
            raise NothingToRefund()
        charge.refunded = charge.amount
