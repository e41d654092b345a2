"""Demo data: ``mercato seed`` and ``mercato up --seed``.

Loads a small catalog (categories, products with generated pictures, stock) and a demo
customer through the gateway's public API, as an administrator would, so it exercises
the same paths as any client and needs no access to a service's database. It is
idempotent: products are keyed by SKU, categories by slug, the customer by email, and a
second run changes nothing. Stock is set only for SKUs with nothing available, so a run
restocks sold-out demo products and leaves the others alone.

The administrator it acts as (``seed-admin@mercato.dev``) is created on first use, the
way ``mercato admin create`` does; its password is derived from the data dir's auth
secret, so it is never printed and is the same on every run. For a platform that is not
run from a local data dir, name an existing administrator in ``MERCATO_SEED_ADMIN_EMAIL``
and ``MERCATO_SEED_ADMIN_PASSWORD``.
"""

from __future__ import annotations

import asyncio
import base64
import colorsys
import hashlib
import hmac
import struct
import zlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp

from mercato.catalog import API_PREFIX

if TYPE_CHECKING:
    from mercato.runner.supervisor import Runner

Say = Callable[[str], None]
CreateAdmin = Callable[[], Awaitable[None]]

DEMO_CUSTOMER_EMAIL = "demo@mercato.dev"
DEMO_CUSTOMER_PASSWORD = "mercato-demo-shopper"  # noqa: S105 (documented demo account)
DEMO_CUSTOMER_NAME = "Demo Shopper"
SEED_ADMIN_EMAIL = "seed-admin@mercato.dev"
SEED_ADMIN_NAME = "Demo data"
CURRENCY = "EUR"
LOW_STOCK_THRESHOLD = 3
PICTURE_SIZE = 160
RETRIES = 8

CATEGORIES: tuple[tuple[str, str], ...] = (
    ("kitchen", "Kitchen"),
    ("lighting", "Lighting"),
    ("furniture", "Furniture"),
    ("garden", "Garden"),
    ("stationery", "Stationery"),
)


@dataclass(frozen=True)
class DemoProduct:
    """One product of the demo catalog."""

    sku: str
    name: str
    description: str
    price: int  # cents
    category: str
    attributes: Mapping[str, Any]
    stock: int


def _p(
    sku: str, name: str, description: str, price: int, category: str, stock: int, **attrs: Any
) -> DemoProduct:
    return DemoProduct(sku, name, description, price, category, attrs, stock)


PRODUCTS: tuple[DemoProduct, ...] = (
    _p(
        "KIT-KETTLE",
        "Stone kettle",
        "A 1.7 litre kettle that boils fast and pours clean.",
        3900,
        "kitchen",
        40,
        colour="slate",
        litres=1.7,
    ),
    _p(
        "KIT-MUG-2",
        "Stoneware mugs (2)",
        "Two glazed stoneware mugs for coffee or tea.",
        1800,
        "kitchen",
        120,
        colour="sand",
    ),
    _p(
        "KIT-KNIFE",
        "Chef's knife",
        "A 20 cm carbon steel chef's knife, sharp out of the box.",
        6400,
        "kitchen",
        25,
        material="carbon steel",
    ),
    _p(
        "KIT-BOARD",
        "Oak chopping board",
        "End-grain oak board that is kind to knives.",
        4500,
        "kitchen",
        30,
        material="oak",
    ),
    _p(
        "KIT-PRESS",
        "Coffee press",
        "A glass French press for four cups of coffee.",
        2900,
        "kitchen",
        60,
        cups=4,
    ),
    _p(
        "KIT-PAN",
        "Cast iron pan",
        "A pre-seasoned 26 cm cast iron pan for a lifetime.",
        5200,
        "kitchen",
        18,
        material="cast iron",
    ),
    _p(
        "LIG-DESK",
        "Desk lamp",
        "An adjustable desk lamp with a warm LED light.",
        4900,
        "lighting",
        35,
        colour="black",
    ),
    _p(
        "LIG-FLOOR",
        "Floor lamp",
        "A tall linen-shaded floor lamp for reading corners.",
        12900,
        "lighting",
        12,
        colour="linen",
    ),
    _p(
        "LIG-BULB-4",
        "LED bulbs (4)",
        "Four warm white E27 LED bulbs, dimmable.",
        1600,
        "lighting",
        200,
        watts=8,
    ),
    _p(
        "LIG-STRING",
        "String lights",
        "Ten metres of outdoor string lights, weatherproof.",
        3400,
        "lighting",
        45,
        metres=10,
    ),
    _p(
        "LIG-PEND",
        "Pendant lamp",
        "A spun aluminium pendant lamp for the dining table.",
        8900,
        "lighting",
        15,
        material="aluminium",
    ),
    _p(
        "LIG-CANDLE",
        "Beeswax candles (6)",
        "Six hand-dipped beeswax candles that burn clean.",
        2200,
        "lighting",
        80,
        count=6,
    ),
    _p(
        "FUR-CHAIR",
        "Oak chair",
        "A solid oak dining chair with a woven seat.",
        15900,
        "furniture",
        20,
        material="oak",
    ),
    _p(
        "FUR-TABLE",
        "Oak table",
        "A solid oak table that seats six.",
        89000,
        "furniture",
        4,
        seats=6,
    ),
    _p(
        "FUR-SHELF",
        "Wall shelf",
        "A floating walnut shelf, 80 cm wide.",
        7900,
        "furniture",
        30,
        material="walnut",
    ),
    _p(
        "FUR-STOOL",
        "Bar stool",
        "A steel bar stool with a beech seat.",
        9900,
        "furniture",
        16,
        material="steel",
    ),
    _p(
        "FUR-SOFA",
        "Linen sofa",
        "A three-seat sofa covered in washable linen.",
        129000,
        "furniture",
        3,
        seats=3,
    ),
    _p(
        "FUR-DESK",
        "Standing desk",
        "A height-adjustable desk with a quiet motor.",
        54900,
        "furniture",
        8,
        motor=True,
    ),
    _p(
        "GAR-SPADE",
        "Garden spade",
        "A forged steel spade with an ash handle.",
        4200,
        "garden",
        22,
        material="steel",
    ),
    _p(
        "GAR-CAN",
        "Watering can",
        "A 10 litre galvanised watering can.",
        3600,
        "garden",
        28,
        litres=10,
    ),
    _p(
        "GAR-GLOVES",
        "Garden gloves",
        "Leather gardening gloves, one size fits most.",
        1900,
        "garden",
        70,
        material="leather",
    ),
    _p(
        "GAR-SEEDS",
        "Herb seed kit",
        "Basil, thyme, parsley and chives to sow on a sill.",
        1200,
        "garden",
        150,
        herbs=4,
    ),
    _p(
        "GAR-HOSE",
        "Garden hose",
        "A 25 metre kink-free garden hose.",
        3900,
        "garden",
        20,
        metres=25,
    ),
    _p(
        "GAR-PLANTER",
        "Terracotta planter",
        "A 30 cm terracotta planter with a saucer.",
        2600,
        "garden",
        40,
        material="terracotta",
    ),
    _p(
        "STA-NOTE",
        "Dotted notebook",
        "A5 dotted notebook with 192 numbered pages.",
        1500,
        "stationery",
        160,
        pages=192,
    ),
    _p(
        "STA-PEN",
        "Fountain pen",
        "A steel-nib fountain pen with a converter.",
        3200,
        "stationery",
        50,
        nib="medium",
    ),
    _p(
        "STA-INK",
        "Blue-black ink",
        "A 50 ml bottle of blue-black fountain pen ink.",
        1100,
        "stationery",
        90,
        ml=50,
    ),
    _p(
        "STA-PLAN",
        "Weekly planner",
        "An undated weekly planner bound in cloth.",
        2100,
        "stationery",
        60,
        colour="green",
    ),
    _p(
        "STA-CARDS",
        "Letterpress cards (8)",
        "Eight letterpress cards with envelopes.",
        1700,
        "stationery",
        75,
        count=8,
    ),
    _p(
        "STA-CLIPS",
        "Brass paper clips",
        "A tin of 100 solid brass paper clips.",
        700,
        "stationery",
        4,
        count=100,
    ),
)


@dataclass
class SeedReport:
    """What a run created, and what it found already there."""

    categories_created: int = 0
    categories_existing: int = 0
    products_created: int = 0
    products_existing: int = 0
    images_uploaded: int = 0
    skus_stocked: int = 0
    customer_created: bool = False
    demo_order_placed: bool = False
    reviews_written: int = 0

    @property
    def changed_anything(self) -> bool:
        """False when the run found everything in place."""
        return bool(
            self.categories_created
            or self.products_created
            or self.images_uploaded
            or self.skus_stocked
            or self.customer_created
            or self.demo_order_placed
            or self.reviews_written
        )

    def summary(self) -> str:
        """One paragraph for the terminal."""
        customer = "created" if self.customer_created else "already there"
        return (
            f"categories: {self.categories_created} created, {self.categories_existing} there; "
            f"products: {self.products_created} created, {self.products_existing} there; "
            f"pictures uploaded: {self.images_uploaded}; SKUs stocked: {self.skus_stocked}; "
            f"demo customer {customer}; demo reviews written: {self.reviews_written}"
        )


class SeedError(RuntimeError):
    """The demo data could not be loaded; the message says why."""


# -- pictures -----------------------------------------------------------------------


def png(width: int, height: int, rows: list[bytes]) -> bytes:
    """An 8-bit RGB PNG from ``height`` rows of ``width * 3`` bytes."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        body = tag + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    raw = b"".join(b"\x00" + row for row in rows)  # filter type 0 on every row
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


_PATTERNS: tuple[Callable[[int, int, int], bool], ...] = (
    lambda x, y, s: (y // (s // 8)) % 2 == 0,  # horizontal stripes
    lambda x, y, s: (x // (s // 8)) % 2 == 0,  # vertical stripes
    lambda x, y, s: ((x // (s // 6)) + (y // (s // 6))) % 2 == 0,  # checks
    lambda x, y, s: ((x + y) // (s // 10)) % 2 == 0,  # diagonal stripes
    lambda x, y, s: (int(((x - s / 2) ** 2 + (y - s / 2) ** 2) ** 0.5) // (s // 12)) % 2 == 0,
    lambda x, y, s: (
        ((x % (s // 5)) - s // 10) ** 2 + ((y % (s // 5)) - s // 10) ** 2 < (s // 16) ** 2
    ),  # dots
)


def product_picture(index: int, size: int = PICTURE_SIZE) -> bytes:
    """A PNG unlike its neighbours': a pattern and a pair of colours chosen by ``index``."""
    hue = (index * 0.618033988749895) % 1.0  # golden-ratio steps spread hues evenly
    ink = bytes(round(c * 255) for c in colorsys.hls_to_rgb(hue, 0.45, 0.7))
    paper = bytes(round(c * 255) for c in colorsys.hls_to_rgb((hue + 0.5) % 1.0, 0.9, 0.5))
    pattern = _PATTERNS[index % len(_PATTERNS)]
    rows = [
        b"".join(ink if pattern(x, y, size) else paper for x in range(size)) for y in range(size)
    ]
    return png(size, size, rows)


# -- the gateway --------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """An HTTP answer, read in full."""

    status: int
    body: Any


class Gateway:
    """The public API as the seed uses it: JSON in and out, retried when rate limited."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str) -> None:
        self._session = session
        self._base = base_url.rstrip("/")
        self.token: str | None = None

    async def call(
        self, method: str, path: str, json: Any = None, headers: Mapping[str, str] | None = None
    ) -> Answer:
        """Calls ``path`` under the API prefix; waits out 429s and brief 502/503s."""
        headers = dict(headers or {})
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        for attempt in range(1, RETRIES + 1):
            try:
                async with self._session.request(
                    method, self._base + API_PREFIX + path, json=json, headers=headers
                ) as response:
                    body = (
                        await response.json(content_type=None)
                        if response.content_length != 0
                        else None
                    )
                    if response.status == 429 and attempt < RETRIES:
                        await asyncio.sleep(float(response.headers.get("Retry-After", "1")))
                        continue
                    if response.status in (502, 503) and attempt < RETRIES:
                        await asyncio.sleep(0.5 * attempt)
                        continue
                    return Answer(response.status, body)
            except aiohttp.ClientConnectionError as exc:
                if attempt == RETRIES:
                    raise SeedError(f"the gateway at {self._base} is unreachable: {exc}") from exc
                await asyncio.sleep(0.5 * attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    async def expect(
        self,
        method: str,
        path: str,
        json: Any = None,
        *,
        ok: tuple[int, ...],
        headers: Mapping[str, str] | None = None,
    ) -> Answer:
        """Like :meth:`call`, raising SeedError for an unexpected status."""
        answer = await self.call(method, path, json, headers)
        if answer.status not in ok:
            detail = answer.body.get("detail") if isinstance(answer.body, dict) else answer.body
            raise SeedError(f"{method} {API_PREFIX}{path} answered {answer.status}: {detail}")
        return answer

    async def put_object(self, url: str, data: bytes, headers: Mapping[str, str]) -> None:
        """Uploads ``data`` to a presigned URL."""
        async with self._session.put(url, data=data, headers=dict(headers)) as response:
            if response.status != 200:
                raise SeedError(f"uploading a picture answered {response.status}")


# -- the seed -----------------------------------------------------------------------


def seed_admin_password(auth_secret_key: str) -> str:
    """The seed administrator's password: stable per data dir, never shown."""
    digest = hmac.new(auth_secret_key.encode(), b"mercato-seed-admin", hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


async def seed_catalog(
    gateway_url: str,
    *,
    admin_email: str,
    admin_password: str,
    create_admin: CreateAdmin | None = None,
    say: Say = lambda _: None,
    reviews: bool = False,
) -> SeedReport:
    """Loads the demo catalog, stock and customer through the gateway at ``gateway_url``.

    With ``reviews`` (order, payment and review running), also the demo customer's order
    and reviews (:mod:`mercato.runner.demo_reviews`).
    """
    report = SeedReport()
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        api = Gateway(session, gateway_url)
        api.token = await _admin_token(api, admin_email, admin_password, create_admin, say)
        categories = await _categories(api, report)
        for index, item in enumerate(PRODUCTS):
            product_id = await _product(api, item, categories[item.category], report)
            await _picture(api, product_id, index, report)
            await _stock(api, item, report)
        say(f"demo catalog: {len(PRODUCTS)} products in {len(CATEGORIES)} categories")
        api.token = None
        created = await api.expect(
            "POST",
            "/auth/register",
            {
                "email": DEMO_CUSTOMER_EMAIL,
                "password": DEMO_CUSTOMER_PASSWORD,
                "name": DEMO_CUSTOMER_NAME,
            },
            ok=(201, 409),
        )
        report.customer_created = created.status == 201
        if reviews:
            from mercato.runner.demo_reviews import seed_reviews

            seeded = await seed_reviews(
                api, email=DEMO_CUSTOMER_EMAIL, password=DEMO_CUSTOMER_PASSWORD
            )
            report.demo_order_placed = seeded.order_placed
            report.reviews_written = seeded.reviews_written
            say(f"demo reviews: {seeded.reviews_written} written, {seeded.reviews_existing} there")
    return report


# Services the demo order and its reviews need besides the catalog's.
REVIEW_SERVICES = ("payment", "order", "review")


async def _admin_token(
    api: Gateway, email: str, password: str, create_admin: CreateAdmin | None, say: Say
) -> str:
    credentials = {"email": email, "password": password}
    login = await api.call("POST", "/auth/login", credentials)
    if login.status == 401 and create_admin is not None:
        say(f"creating the administrator {email} for the demo data")
        await create_admin()
        login = await api.call("POST", "/auth/login", credentials)
    if login.status != 200:
        raise SeedError(f"cannot log in as {email} (status {login.status})")
    return str(login.body["access_token"])


async def _categories(api: Gateway, report: SeedReport) -> dict[str, str]:
    existing: dict[str, str] = {}
    cursor: str | None = None
    while True:
        query = "?limit=100" + (f"&cursor={cursor}" if cursor else "")
        page = (await api.expect("GET", "/categories" + query, ok=(200,))).body
        existing.update({c["slug"]: c["id"] for c in page["items"]})
        cursor = page["next_cursor"]
        if not cursor:
            break
    for slug, name in CATEGORIES:
        if slug in existing:
            report.categories_existing += 1
            continue
        made = await api.expect("POST", "/categories", {"slug": slug, "name": name}, ok=(201, 409))
        if made.status == 409:  # another seed run got there first
            existing[slug] = made.body["category_id"]
            report.categories_existing += 1
        else:
            existing[slug] = made.body["id"]
            report.categories_created += 1
    return existing


async def _product(api: Gateway, item: DemoProduct, category_id: str, report: SeedReport) -> str:
    made = await api.expect(
        "POST",
        "/products",
        {
            "sku": item.sku,
            "name": item.name,
            "description": item.description,
            "price": {"amount": item.price, "currency": CURRENCY},
            "category_id": category_id,
            "attributes": dict(item.attributes),
        },
        ok=(201, 409),
    )
    if made.status == 409:
        report.products_existing += 1
        return str(made.body["product_id"])
    report.products_created += 1
    return str(made.body["id"])


async def _picture(api: Gateway, product_id: str, index: int, report: SeedReport) -> None:
    shown = await api.expect("GET", f"/products/{product_id}", ok=(200,))
    if shown.body["images"]:
        return
    picture = product_picture(index)
    grant = await api.expect(
        "POST",
        f"/products/{product_id}/images",
        {"content_type": "image/png", "size": len(picture)},
        ok=(200,),
    )
    await api.put_object(grant.body["upload_url"], picture, grant.body["headers"])
    listed = await api.expect("GET", f"/products/{product_id}", ok=(200,))
    if not listed.body["images"]:
        raise SeedError(f"the picture of {product_id} was uploaded but is not listed")
    report.images_uploaded += 1


async def _stock(api: Gateway, item: DemoProduct, report: SeedReport) -> None:
    shown = await api.expect("GET", f"/inventory/{item.sku}", ok=(200,))
    if shown.body["available"] > 0:
        return
    await api.expect(
        "PUT",
        f"/inventory/{item.sku}",
        {"on_hand": item.stock, "low_stock_threshold": LOW_STOCK_THRESHOLD, "reason": "demo data"},
        ok=(200,),
    )
    report.skus_stocked += 1


# -- entry points -------------------------------------------------------------------


def seed(
    data_dir: Path,
    *,
    environ: Mapping[str, str],
    say: Say,
    gateway_url: str | None = None,
) -> SeedReport:
    """``mercato seed``: loads the demo data into the platform running from ``data_dir``."""
    from mercato.runner import admin
    from mercato.runner import state as statefile
    from mercato.runner.secrets import load_or_create

    data_dir = data_dir.resolve()
    # The services of the running platform, when seeding the local one (all of them else).
    running: set[str] | None = None
    if gateway_url is None:
        try:
            gateway_url = statefile.running_gateway_url(
                data_dir,
                hint="start it with 'mercato up' (or 'mercato up --seed'), "
                "or name a gateway with --gateway",
            )
        except statefile.NotRunning as exc:
            raise SeedError(str(exc)) from None
        runner = statefile.read(data_dir)
        running = {s.name for s in runner.services} if runner is not None else None

    email = environ.get("MERCATO_SEED_ADMIN_EMAIL")
    password = environ.get("MERCATO_SEED_ADMIN_PASSWORD")
    create: CreateAdmin | None = None
    if not (email and password):
        email = SEED_ADMIN_EMAIL
        password = seed_admin_password(load_or_create(data_dir)["auth_secret_key"])

        async def create() -> None:
            await asyncio.to_thread(
                admin.create_admin,
                data_dir,
                email=SEED_ADMIN_EMAIL,
                password=password,
                name=SEED_ADMIN_NAME,
                environ=environ,
                say=say,
            )

    return asyncio.run(
        seed_catalog(
            gateway_url,
            admin_email=email,
            admin_password=password,
            create_admin=create,
            say=say,
            reviews=running is None or all(n in running for n in REVIEW_SERVICES),
        )
    )


async def seed_when_ready(runner: Runner) -> None:
    """The ``mercato up --seed`` hook: loads the demo data once every service is ready."""
    from mercato.runner import admin

    gateway = runner.services.get("gateway")
    missing = [n for n in ("gateway", "auth", "product", "inventory") if n not in runner.services]
    if gateway is None or missing:
        runner.say(
            f"--seed needs {', '.join(missing)} running; no demo data loaded", style="yellow"
        )
        return
    secret = runner.secrets["auth_secret_key"]
    password = seed_admin_password(secret)
    server = runner.endpoints.database_url
    assert server is not None

    async def create() -> None:
        async def work(accounts: Any, _: Any) -> None:
            await accounts.create_admin(
                email=SEED_ADMIN_EMAIL, password=password, name=SEED_ADMIN_NAME
            )

        await admin.with_auth(server, secret, work)

    try:
        report = await seed_catalog(
            gateway.url,
            admin_email=SEED_ADMIN_EMAIL,
            admin_password=password,
            create_admin=create,
            say=runner.say,
            reviews=all(n in runner.services for n in REVIEW_SERVICES),
        )
    except SeedError as exc:
        runner.say(f"demo data not loaded: {exc}", style="bold red")
        return
    runner.say(report.summary())
    runner.say(demo_login_hint())


def demo_login_hint() -> str:
    """How to log in as the demo customer."""
    return f"demo customer: {DEMO_CUSTOMER_EMAIL} / password {DEMO_CUSTOMER_PASSWORD}"
