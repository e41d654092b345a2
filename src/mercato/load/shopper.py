"""The shopper model: what one simulated customer does, with Online Boutique's weights.

Online Boutique's loadgenerator weighs its tasks index 1, setCurrency 2, browseProduct 10,
addToCart 2, viewCart 3, checkout 1, with a wait of 1-10 s between them. Mercato keeps
those weights, searches where Online Boutique sets a currency, and adds signing in again
and looking at past orders (1 each). Every shopper registers its own customer on start
(a unique email, never the demo customer) with a sandbox card that succeeds and one that
is declined; a few checkouts (``DECLINED_SHARE``) use the declined card.

A request counts as failed when its answer is not the one the API promises (API.md): an
unexpected status, or a checkout whose outcome does not fit the card and the stock. A
declined card that fails the order, or a product that sold out meanwhile, is a right
answer, counted by outcome in the run's summary.

Importing this module imports Locust, which monkey-patches the process with gevent.
"""

from __future__ import annotations

import functools
import json
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from locust import FastHttpUser, task
from locust.env import Environment

from mercato.catalog import API_PREFIX
from mercato.load.ledger import (
    CONFIRMED,
    EMAIL_DOMAIN,
    OUT_OF_STOCK,
    PENDING,
    SHOPPER_PASSWORD,
    checkout_outcome,
)

GOOD_CARD = "4242424242424242"
DECLINED_CARDS = ("4000000000000002", "4000000000009995")  # card_declined, insufficient_funds
DECLINED_SHARE = 0.05
MAX_QUANTITY = 3
CATALOG_PAGE = 100
ADDRESS = {
    "name": "Load Shopper",
    "line1": "1 Traffic Street",
    "city": "Lyon",
    "postal_code": "69001",
    "country": "FR",
}
# The run's settings travel to Locust workers inside the master's parsed options.
WAIT_MIN = "mercato_wait_min"
WAIT_MAX = "mercato_wait_max"
SPARE_SKUS = "mercato_spare_skus"
# Shoppers tell the master (or the local runner) about their customers and checkouts.
LEDGER_MESSAGE = "mercato-ledger"


@dataclass(frozen=True)
class Product:
    """A product as the shopper remembers it from the catalog."""

    id: str
    sku: str
    name: str
    category: str | None


def shopping(step: Callable[[Shopper], None]) -> Callable[[Shopper], None]:
    """A task that first makes sure the shopper can shop (see ``Shopper.set_up``); a shopper
    whose start failed spends the task on another try at it."""

    @functools.wraps(step)
    def attempt(shopper: Shopper) -> None:
        if shopper.set_up():
            step(shopper)

    return attempt


class Shopper(FastHttpUser):
    """A customer of the shop: browses, searches, fills a cart, checks out, looks at orders."""

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        options = environment.parsed_options
        self.wait_range = (
            float(getattr(options, WAIT_MIN, 1.0)),
            float(getattr(options, WAIT_MAX, 10.0)),
        )
        self.spare_skus = frozenset(getattr(options, SPARE_SKUS, None) or ())
        self.token = ""
        self.token_renewal = 0.0
        self.email = ""
        self.card = ""
        self.declined_card = ""
        self.products: list[Product] = []
        self.cart: set[str] = set()

    def wait_time(self) -> float:
        """Seconds of thought between two tasks."""
        return random.uniform(*self.wait_range)

    def on_start(self) -> None:
        """Registers a customer with two cards and looks at the catalog."""
        self.set_up()

    def set_up(self) -> bool:
        """Carries the start on from where a failed request stopped it (and signs in again
        when the token is about to expire); True once the shopper can shop."""
        if not self.email:
            email = f"shopper-{uuid.uuid4().hex[:16]}@{EMAIL_DOMAIN}"
            registered = self._call(
                "POST",
                "/auth/register",
                body={"email": email, "password": SHOPPER_PASSWORD, "name": "Load Shopper"},
                expect=(201,),
                signed_in=False,
            )
            if registered is None:
                return False  # the next try registers another email
            self.email = email
            self._tell({"customer": {"email": email, "id": str(registered["id"])}})
        if (not self.token or time.monotonic() > self.token_renewal) and not self._sign_in():
            return False
        self.card = self.card or self._add_card(GOOD_CARD)
        self.declined_card = self.declined_card or self._add_card(random.choice(DECLINED_CARDS))
        if not (self.card and self.declined_card):
            return False
        if not self.products:
            page = self._call(
                "GET", "/products", f"/products?limit={CATALOG_PAGE}", signed_in=False
            )
            self.products = [
                Product(
                    id=str(item["id"]),
                    sku=str(item["sku"]),
                    name=str(item["name"]),
                    category=(item.get("category") or {}).get("slug"),
                )
                for item in (page or {}).get("items", [])
            ]
        return bool(self.products)

    # -- the tasks, with Online Boutique's weights --------------------------------------

    @task(1)
    @shopping
    def browse_catalog(self) -> None:
        """A page of the catalog, half the time of one category."""
        query: dict[str, Any] = {"limit": 20}
        categories = sorted({p.category for p in self.products if p.category})
        if categories and random.random() < 0.5:
            query["category"] = random.choice(categories)
        self._call("GET", "/products", f"/products?{urlencode(query)}", signed_in=False)

    @task(2)
    @shopping
    def search(self) -> None:
        """A full-text search for a word of some product's name."""
        word = random.choice(random.choice(self.products).name.split())
        path = f"/products?{urlencode({'q': word.strip('()')})}"
        self._call("GET", "/products?q={query}", path, signed_in=False)

    @task(10)
    @shopping
    def open_product(self) -> None:
        """A product page: the product and its stock."""
        self._product_page(random.choice(self.products))

    @task(2)
    @shopping
    def add_to_cart(self) -> None:
        """Opens a product and puts a few in the cart, when that many are in stock."""
        self._put_in_cart()

    @task(3)
    @shopping
    def view_cart(self) -> None:
        """The cart with its totals."""
        self._call("GET", "/cart")

    @task(1)
    @shopping
    def check_out(self) -> None:
        """Adds a product, checks out with an Idempotency-Key, opens the order."""
        self._put_in_cart()
        if not self.cart:
            return  # everything the shopper wanted was sold out
        declined = random.random() < DECLINED_SHARE
        outcomes: list[str] = []

        def fits_the_card(status: int, order: Any) -> str | None:
            if not isinstance(order, dict):
                return f"{status} with a body that is not an order"
            outcome = checkout_outcome(status, order, declined=declined)
            if outcome is None:
                failure = order.get("failure") or {}
                card = "a declined" if declined else "a good"
                return f"order {order.get('status')} ({failure.get('reason')}) with {card} card"
            outcomes.append(outcome)
            return None

        self._tell({"checkout_sent": 1})
        order = self._call(
            "POST",
            "/orders",
            body={
                "shipping_address": ADDRESS,
                "payment_method_id": self.declined_card if declined else self.card,
            },
            headers={"Idempotency-Key": uuid.uuid4().hex},
            expect=(201, 202),
            judge=fits_the_card,
        )
        if order is None:
            return
        outcome = outcomes[0]
        self._tell({"checkout": outcome})
        if outcome in (CONFIRMED, PENDING):
            self.cart.clear()
        elif outcome == OUT_OF_STOCK:
            self._give_up_on(order)
        self._call("GET", "/orders/{id}", f"/orders/{order['id']}")

    @task(1)
    @shopping
    def sign_in_again(self) -> None:
        """A returning visit: signs in again for a fresh token."""
        self._sign_in()

    @task(1)
    @shopping
    def look_at_orders(self) -> None:
        """The customer's orders, newest first."""
        self._call("GET", "/orders", "/orders?limit=20")

    # -- steps ----------------------------------------------------------------------------

    def _sign_in(self) -> bool:
        tokens = self._call(
            "POST",
            "/auth/login",
            body={"email": self.email, "password": SHOPPER_PASSWORD},
            signed_in=False,
        )
        if tokens is None:
            return False
        self.token = str(tokens["access_token"])
        # Sign in again a minute before the token expires, as the storefront would refresh.
        self.token_renewal = time.monotonic() + float(tokens.get("expires_in", 900)) - 60
        return True

    def _add_card(self, number: str) -> str:
        card = self._call(
            "POST",
            "/payments/methods",
            body={"card_number": number, "exp_month": 12, "exp_year": 2040, "cvc": "123"},
            expect=(201,),
        )
        return str(card["id"]) if card else ""

    def _product_page(self, product: Product) -> int | None:
        """Opens a product's page; how many are available, or None when it did not load."""
        shown = self._call("GET", "/products/{id}", f"/products/{product.id}", signed_in=False)
        stock = self._call("GET", "/inventory/{sku}", f"/inventory/{product.sku}", signed_in=False)
        if shown is None or stock is None:
            return None
        return int(stock["available"])

    def _put_in_cart(self) -> None:
        buyable = [p for p in self.products if p.sku not in self.spare_skus]
        if not buyable:
            return
        product = random.choice(buyable)
        quantity = random.randint(1, MAX_QUANTITY)
        available = self._product_page(product)
        if available is None or available < quantity:
            return
        put = self._call(
            "PUT", "/cart/items/{id}", f"/cart/items/{product.id}", body={"quantity": quantity}
        )
        if put is not None:
            self.cart.add(product.id)

    def _give_up_on(self, order: dict[str, Any]) -> None:
        """Empties the cart of a basket that sold out, as a shopper starting over would."""
        for item in order.get("items", []):
            product_id = str(item["product_id"])
            self._call("DELETE", "/cart/items/{id}", f"/cart/items/{product_id}")
            self.cart.discard(product_id)

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def _call(
        self,
        method: str,
        name: str,
        path: str | None = None,
        *,
        body: Any = None,
        headers: dict[str, str] | None = None,
        expect: tuple[int, ...] = (200,),
        signed_in: bool = True,
        judge: Callable[[int, Any], str | None] | None = None,
    ) -> Any:
        """One request of kind ``method name`` under the API prefix; its JSON body, or None
        when it failed (in the statistics): a status not in ``expect``, a body that is not
        JSON, or what ``judge`` finds wrong with the answer."""
        with self.client.request(
            method,
            API_PREFIX + (path or name),
            name=name,
            json=body,
            headers={**(self._auth() if signed_in else {}), **(headers or {})},
            catch_response=True,
        ) as response:
            status = response.status_code
            answer = _json(response.text) if response.text else {}
            if status not in expect:
                problem: str | None = _unexpected(status, response.text)
            elif not isinstance(answer, dict | list):
                problem = f"{status} with a body that is not a JSON document"
            else:
                problem = judge(status, answer) if judge else None
            if problem:
                response.failure(problem)
                return None
            response.success()
            return answer

    def _tell(self, entry: dict[str, Any]) -> None:
        runner = self.environment.runner
        if runner is not None:
            runner.send_message(LEDGER_MESSAGE, entry)


def _json(text: str | None) -> Any:
    try:
        return json.loads(text or "")
    except ValueError:
        return None


def _unexpected(status: int, text: str | None) -> str:
    detail = _json(text)
    if isinstance(detail, dict):
        return f"{status}: {detail.get('title') or ''} {detail.get('detail') or ''}".strip()
    return f"{status}: {(text or '')[:200]}"
