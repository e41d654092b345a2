"""Helpers of the browser tests (tests/e2e/test_web_*.py) and of `make screenshots`: Debian's
chromium driven by Playwright, one browser per test module, and the shop's people (customers
and an admin) made through the public API so that each test starts where it means to.

Playwright's own browser download is not available here: the set-up installs Debian's
``chromium`` when it is missing (CI runs as root on a fresh machine).
"""

from __future__ import annotations

import struct
import subprocess
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, expect, sync_playwright

from tests.e2e.support import PASSWORD, RunningPlatform, eventually, mercato

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
API = "/api/v1"
GOOD_CARD = "4242424242424242"
DECLINED_CARD = "4000000000000002"
# Seed products nobody else buys (test_shop_flow and test_seed count KIT-KETTLE and
# FUR-TABLE exactly); each has stock enough for every browser test of a session.
ON_SALE = "KIT-BOARD"
ON_SALE_NAME = "Oak chopping board"
ADDRESS = {
    "Name": "Grace Hopper",
    "Address line 1": "1 Navy Way",
    "City": "Arlington",
    "Postal code": "22201",
    "Country": "US",
}
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


def tiny_png(colour: tuple[int, int, int] = (27, 77, 62)) -> bytes:
    """A valid 8x8 PNG of one colour, for upload tests."""
    rows = b"".join(b"\x00" + bytes(colour) * 8 for _ in range(8))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 8, 8, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def ensure_chromium() -> Path:
    """Debian's chromium, installed on first use when the machine lacks it."""
    if not CHROMIUM.exists():
        for command in (
            ["apt-get", "update"],
            ["apt-get", "install", "-y", "--no-install-recommends", "chromium"],
        ):
            subprocess.run(
                command,
                check=True,
                capture_output=True,
                timeout=900,
                env={"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/bin"},
            )
    assert CHROMIUM.exists(), f"{CHROMIUM} is still missing after apt-get install chromium"
    return CHROMIUM


def launch(playwright: Playwright) -> Browser:
    """Headless Debian chromium."""
    return playwright.chromium.launch(executable_path=str(ensure_chromium()), args=CHROMIUM_ARGS)


@dataclass
class Customer:
    """A shopper made for one test; ``headers`` call the API as them."""

    email: str
    name: str
    password: str = PASSWORD
    id: str = ""
    headers: dict[str, str] = field(default_factory=dict)


class Shop:
    """The shared platform as a browser test sees it: its address and its people."""

    def __init__(self, platform: RunningPlatform) -> None:
        self.platform = platform
        self.url = platform.url("gateway")
        self.api = httpx.Client(base_url=self.url + API, timeout=60)
        self._admin: Customer | None = None
        # Products a test made; withdrawn after it, so the shared catalog lists the demo
        # products only (tests/e2e/test_seed.py counts them).
        self.made: list[str] = []

    def customer(self, name: str = "shopper", *, signed_in: bool = True) -> Customer:
        """A newly registered customer with a unique email."""
        who = Customer(email=f"{name}-{uuid.uuid4().hex[:8]}@example.com", name=name.title())
        made = self.api.post(
            "/auth/register", json={"email": who.email, "password": who.password, "name": who.name}
        )
        assert made.status_code == 201, made.text
        who.id = made.json()["id"]
        if signed_in:
            who.headers = self.bearer(who.email, who.password)
            # The profile is made from the registration event, a moment later.
            eventually(
                lambda: (
                    True
                    if self.api.get("/users/me", headers=who.headers).status_code == 200
                    else None
                ),
                what=f"the profile of {who.email}",
            )
        return who

    def bearer(self, email: str, password: str) -> dict[str, str]:
        """Authorization headers of a fresh login."""
        tokens = self.api.post("/auth/login", json={"email": email, "password": password})
        assert tokens.status_code == 200, tokens.text
        return {"Authorization": f"Bearer {tokens.json()['access_token']}"}

    @property
    def admin(self) -> Customer:
        """An administrator, made once per session with `mercato admin create`."""
        if self._admin is None:
            email = f"admin-{uuid.uuid4().hex[:8]}@example.com"
            made = mercato(
                "admin", "create", "--email", email, "--password", PASSWORD,
                "--data-dir", str(self.platform.data_dir),
            )  # fmt: skip
            assert made.returncode == 0, made.stdout + made.stderr
            self._admin = Customer(email=email, name="Admin", headers=self.bearer(email, PASSWORD))
        return self._admin

    def product(self, sku: str) -> dict[str, Any]:
        """A product of the catalog by SKU (the listing has no SKU filter: page through)."""
        cursor = None
        while True:
            params = {"limit": 100, **({"cursor": cursor} if cursor else {})}
            page = self.api.get("/products", params=params).json()
            for product in page["items"]:
                if product["sku"] == sku:
                    return dict(product)
            cursor = page["next_cursor"]
            assert cursor, f"no product {sku} on sale"

    def new_product(self, name: str, description: str, stock: int) -> dict[str, Any]:
        """A product made by the admin, with stock."""
        sku = f"WEB-{uuid.uuid4().hex[:8].upper()}"
        made = self.api.post(
            "/products",
            json={
                "sku": sku,
                "name": name,
                "description": description,
                "price": {"amount": 1250, "currency": "EUR"},
            },
            headers=self.admin.headers,
        )
        assert made.status_code == 201, made.text
        self.made.append(made.json()["id"])
        stocked = self.api.put(
            f"/inventory/{sku}", json={"on_hand": stock}, headers=self.admin.headers
        )
        assert stocked.status_code == 200, stocked.text
        return dict(made.json())

    def withdraw_made_products(self) -> None:
        """Deactivates the products tests made (DELETE deactivates; it stays for orders)."""
        while self.made:
            gone = self.api.delete(f"/products/{self.made.pop()}", headers=self.admin.headers)
            assert gone.status_code in (204, 404), gone.text

    def orders_of(self, who: Customer) -> list[dict[str, Any]]:
        """The customer's orders, newest first."""
        listed = self.api.get("/orders", params={"limit": 100}, headers=who.headers)
        assert listed.status_code == 200, listed.text
        return list(listed.json()["items"])

    def confirmed_order(self, who: Customer, sku: str = ON_SALE) -> dict[str, Any]:
        """An order of one ``sku`` placed and paid through the API."""
        product = self.product(sku)
        cart = self.api.put(
            f"/cart/items/{product['id']}", json={"quantity": 1}, headers=who.headers
        )
        assert cart.status_code == 200, cart.text
        card = self.api.post(
            "/payments/methods",
            json={"card_number": GOOD_CARD, "exp_month": 12, "exp_year": 2035, "cvc": "123"},
            headers=who.headers,
        )
        assert card.status_code == 201, card.text
        address = {"name": who.name, "line1": "1 Test St", "city": "Leeds"}
        placed = self.api.post(
            "/orders",
            json={
                "shipping_address": {**address, "postal_code": "LS1 1AA", "country": "GB"},
                "payment_method_id": card.json()["id"],
            },
            headers={**who.headers, "Idempotency-Key": uuid.uuid4().hex},
        )
        assert placed.status_code == 201, placed.text
        assert placed.json()["status"] == "confirmed", placed.text
        return dict(placed.json())


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One headless chromium per test module.

    Not per session: while Playwright's sync API is alive it keeps its asyncio loop marked
    running in the main thread, which would break every async test run after it.
    """
    with sync_playwright() as playwright:
        chromium = launch(playwright)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="session")
def web(shop: RunningPlatform) -> Iterator[Shop]:
    """The shared platform for browser tests."""
    seen = Shop(shop)
    try:
        yield seen
    finally:
        seen.api.close()


@dataclass
class Tab:
    """A page in a fresh browser context, with the dialogs it opened."""

    page: Page
    context: BrowserContext
    dialogs: list[str]

    def go(self, path: str) -> Page:
        """Opens ``path`` of the shop."""
        self.page.goto(path)
        return self.page


def open_tab(browser: Browser, base_url: str, viewport: dict[str, int] = DESKTOP) -> Tab:
    """A new context (its own cookies) and page on the shop."""
    context = browser.new_context(base_url=base_url, viewport=viewport)  # type: ignore[arg-type]
    context.set_default_timeout(30_000)
    page = context.new_page()
    tab = Tab(page, context, [])

    def dismiss(dialog: Any) -> None:
        tab.dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", dismiss)
    return tab


@pytest.fixture
def tab(browser: Browser, web: Shop) -> Iterator[Tab]:
    """A fresh desktop-sized tab for one test; the products it made are withdrawn after."""
    opened = open_tab(browser, web.url)
    try:
        yield opened
    finally:
        opened.context.close()
        web.withdraw_made_products()


def sign_in(page: Page, who: Customer, path: str = "/#/signin", *, signed_in: bool = True) -> None:
    """Signs ``who`` in through the page's form (and waits for the page to say so)."""
    page.goto(path)
    page.get_by_label("Email").fill(who.email)
    page.get_by_label("Password").fill(who.password)
    page.get_by_role("button", name="Sign in").click()
    if signed_in:
        expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def fill_checkout(page: Page, card: str) -> None:
    """Fills the address and the card of the checkout page."""
    for label, value in ADDRESS.items():
        page.get_by_label(label, exact=True).fill(value)
    page.get_by_label("Card number").fill(card)
    page.get_by_label("Expiry month").fill("12")
    page.get_by_label("Expiry year").fill("2035")
    page.get_by_label("CVC").fill("123")
