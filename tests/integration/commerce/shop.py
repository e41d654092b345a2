"""A shop of real services for the commerce tests: auth, product, inventory, payment, order.

Every service runs in the test's process through the harness, except those a test
asks to run as their own process (to SIGKILL them). Helpers speak the public API.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt

from tests.conftest import Harness, RunningService
from tests.integration.accounts import admin, customer, service
from tests.processes import ServiceProcess

API = "/api/v1"
VISA_OK = "4242424242424242"
DECLINED = "4000000000000002"
SLOW = "4000000000000259"
ADDRESS = {
    "name": "Ada Lovelace",
    "line1": "12 St James's Square",
    "city": "London",
    "postal_code": "SW1Y 4JH",
    "country": "GB",
}
TERMINAL = ("confirmed", "failed", "cancelled")

Service = RunningService | ServiceProcess

# Quick clocks so recovery happens within a test.
ORDER_SETTINGS: dict[str, Any] = {
    "saga_lease_seconds": 2.0,
    "recovery_interval_seconds": 0.2,
}
PAYMENT_SETTINGS: dict[str, Any] = {
    "sandbox_slow_seconds": 3.0,
    "charge_recovery_after_seconds": 5.0,
    "recovery_interval_seconds": 0.2,
}


def eur(amount: int) -> dict[str, Any]:
    """Money in euro cents."""
    return {"amount": amount, "currency": "EUR"}


@dataclass
class Shopper:
    """A customer with a token and a card."""

    email: str
    headers: dict[str, str]
    id: str
    card: str = ""


@dataclass
class Shop:
    """The running services and an administrator's token."""

    harness: Harness
    auth: RunningService
    product: Service
    inventory: Service
    payment: Service
    order: Service
    root: dict[str, str]
    order_token: dict[str, str]
    shoppers: list[Shopper] = field(default_factory=list)

    async def new_product(self, sku: str, price: int, stock: int, name: str | None = None) -> str:
        """Creates a product with ``stock`` units on hand; its id."""
        created = await self.product.client.post(
            f"{API}/products",
            json={"sku": sku, "name": name or f"Product {sku}", "price": eur(price)},
            headers=self.root,
        )
        assert created.status_code == 201, created.text
        await self.set_stock(sku, stock)
        return str(created.json()["id"])

    async def set_stock(self, sku: str, on_hand: int) -> None:
        """Sets the units on hand of a SKU (administrator)."""
        stocked = await self.inventory.client.put(
            f"{API}/inventory/{sku}", json={"on_hand": on_hand}, headers=self.root
        )
        assert stocked.status_code == 200, stocked.text

    async def available(self, sku: str) -> int:
        """Units of a SKU one may still buy."""
        answer = await self.inventory.client.get(f"{API}/inventory/{sku}")
        assert answer.status_code == 200, answer.text
        return int(answer.json()["available"])

    async def shopper(self, email: str, card: str = VISA_OK) -> Shopper:
        """A registered customer with a card."""
        headers = await customer(self.auth, email)
        token = headers["Authorization"].removeprefix("Bearer ")
        who = Shopper(email, headers, jwt.decode(token, options={"verify_signature": False})["sub"])
        who.card = await self.add_card(who, card)
        self.shoppers.append(who)
        return who

    async def add_card(self, who: Shopper, number: str) -> str:
        """Adds a card; its payment method id."""
        added = await self.payment.client.post(
            f"{API}/payments/methods",
            json={"card_number": number, "exp_month": 12, "exp_year": 2035, "cvc": "123"},
            headers=who.headers,
        )
        assert added.status_code == 201, added.text
        return str(added.json()["id"])

    async def put_in_cart(self, who: Shopper, product_id: str, quantity: int) -> httpx.Response:
        """Sets a cart line."""
        return await self.order.client.put(
            f"{API}/cart/items/{product_id}", json={"quantity": quantity}, headers=who.headers
        )

    async def check_out(
        self, who: Shopper, *, card: str | None = None, key: str | None = None
    ) -> httpx.Response:
        """POST /orders with an Idempotency-Key."""
        return await self.order.client.post(
            f"{API}/orders",
            json={"shipping_address": ADDRESS, "payment_method_id": card or who.card},
            headers={**who.headers, "Idempotency-Key": key or uuid.uuid4().hex},
        )

    async def order_of(self, who: Shopper, order_id: str) -> dict[str, Any]:
        """GET /orders/{id} as its owner."""
        answer = await self.order.client.get(f"{API}/orders/{order_id}", headers=who.headers)
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    async def wait_order(
        self,
        who: Shopper,
        order_id: str,
        done: Callable[[dict[str, Any]], bool] = lambda o: o["status"] in TERMINAL,
        *,
        seconds: float = 90.0,
    ) -> dict[str, Any]:
        """Polls the order until ``done`` holds (or the time is up)."""
        order = await self.order_of(who, order_id)
        for _ in range(int(seconds / 0.2)):
            if done(order):
                break
            await asyncio.sleep(0.2)
            order = await self.order_of(who, order_id)
        return order

    async def wait_charge_refunded(self, order_id: str, seconds: float = 30.0) -> dict[str, Any]:
        """The order's one succeeded charge, once refunded in full (or when the time is up)."""
        charge: dict[str, Any] = {}
        for _ in range(int(seconds / 0.2)):
            (charge,) = [c for c in await self.charges_of(order_id) if c["status"] == "succeeded"]
            if charge["refunded"] == charge["amount"]:
                break
            await asyncio.sleep(0.2)
        return charge

    async def charges_of(self, order_id: str) -> list[dict[str, Any]]:
        """Every charge payment made for an order."""
        answer = await self.payment.client.get(
            f"{API}/payments/charges", params={"order_id": order_id}, headers=self.order_token
        )
        assert answer.status_code == 200, answer.text
        return list(answer.json()["items"])


async def open_shop(
    harness: Harness,
    *,
    processes: dict[str, str] | None = None,
    order: dict[str, Any] | None = None,
    payment: dict[str, Any] | None = None,
    **settings: dict[str, Any],
) -> Shop:
    """Starts the commerce services; ``processes`` maps the ones to spawn to their faults."""
    processes = processes or {}
    overrides = {
        "order": {**ORDER_SETTINGS, **(order or {})},
        "payment": {**PAYMENT_SETTINGS, **(payment or {})},
        **settings,
    }
    auth = await harness.start("auth")
    running: dict[str, Service] = {}
    for name in ("product", "inventory", "payment", "order"):
        if name in processes:
            running[name] = await harness.spawn(
                name, faults=processes[name], **overrides.get(name, {})
            )
        else:
            running[name] = await harness.start(name, **overrides.get(name, {}))
    return Shop(
        harness,
        auth,
        running["product"],
        running["inventory"],
        running["payment"],
        running["order"],
        await admin(auth),
        await service(auth, "order"),
    )
