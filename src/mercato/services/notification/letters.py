"""What each event tells its reader: the in-app notification and the email, from templates.

The templates are files beside this module (``templates/<letter>.txt`` and ``.html``, set in
``layout.txt`` / ``layout.html``), filled with :class:`string.Template`; every value put into
an HTML template is escaped first. A :class:`Letter` holds both the short in-app text and the
two renderings of the email.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from functools import cache
from importlib import resources
from string import Template
from typing import Any

from mercato.contracts.inventory import LowStock
from mercato.contracts.order import OrderState
from mercato.platform.schemas import Money

ACCOUNT, ORDERS, MARKETING = "account", "orders", "marketing"
CATEGORIES = (ACCOUNT, ORDERS, MARKETING)
# ISO 4217 currencies without minor units; every other one the shop sells in has two.
ZERO_DECIMAL_CURRENCIES = frozenset({"JPY", "KRW", "ISK", "CLP", "VND", "HUF"})


@dataclass(frozen=True)
class Shop:
    """Who signs the mail."""

    name: str
    url: str


@dataclass(frozen=True)
class Letter:
    """One notification: its category, in-app title and body, the ids it concerns, the email."""

    category: str
    title: str
    body: str
    data: dict[str, Any]
    text: str
    html: str


@cache
def _template(name: str) -> Template:
    source = resources.files("mercato.services.notification").joinpath("templates", name)
    return Template(source.read_text(encoding="utf-8"))


def format_money(money: Money) -> str:
    """``{"amount": 1250, "currency": "EUR"}`` as ``12.50 EUR``."""
    if money.currency in ZERO_DECIMAL_CURRENCIES:
        return f"{money.amount} {money.currency}"
    sign = "-" if money.amount < 0 else ""
    units, cents = divmod(abs(money.amount), 100)
    return f"{sign}{units}.{cents:02d} {money.currency}"


def _render(
    letter: str,
    shop: Shop,
    *,
    name: str,
    subject: str,
    values: dict[str, str],
    lines: OrderState | None = None,
) -> tuple[str, str]:
    """The plain text and HTML of ``letter``, with the order's lines when it has some."""
    common = {"shop_name": shop.name, "shop_url": shop.url, "name": name, "subject": subject}
    plain = {**common, **values}
    if lines is not None:
        plain["lines"] = _lines_text(lines)
    text = _template("layout.txt").substitute(
        common, content=_template(f"{letter}.txt").substitute(plain).strip()
    )
    escaped = {k: html.escape(v) for k, v in {**common, **values}.items()}
    if lines is not None:
        escaped["lines"] = _lines_html(lines)  # built from escaped parts
    rich = _template("layout.html").substitute(
        escaped, content=_template(f"{letter}.html").substitute(escaped).strip()
    )
    return text, rich


def welcome(shop: Shop, *, name: str, email: str) -> Letter:
    """The letter of ``user.registered``."""
    title = f"Welcome to {shop.name}"
    text, rich = _render("welcome", shop, name=name, subject=title, values={"email": email})
    return Letter(ACCOUNT, title, f"Your account {email} is ready.", {}, text, rich)


_ORDER_LETTERS = {
    "order.confirmed": ("order_confirmed", "Your order {ref} is confirmed"),
    "order.failed": ("order_failed", "Your order {ref} could not be completed"),
    "order.cancelled": ("order_cancelled", "Your order {ref} is cancelled"),
    "order.refunded": ("order_refunded", "Your order {ref} is refunded"),
}
_ORDER_BODIES = {
    "order.confirmed": "{count} item(s), {total}: confirmed and paid.",
    "order.failed": "Not completed ({reason}); nothing was charged.",
    "order.cancelled": "Cancelled; {total} is refunded.",
    "order.refunded": "Refunded: {total}.",
}


def order_reference(order: OrderState) -> str:
    """The short reference a customer reads: the first eight hex digits of the order id."""
    return order.order_id.hex[:8].upper()


def about_order(shop: Shop, event_type: str, order: OrderState, *, name: str) -> Letter:
    """The letter of an ``order.*`` event: its lines and total."""
    letter, subject = _ORDER_LETTERS[event_type]
    ref = order_reference(order)
    total = format_money(order.total)
    reason = (order.failure_reason or "unknown reason").replace("_", " ")
    title = subject.format(ref=ref)
    values = {"order_ref": ref, "total": total, "reason": reason}
    text, rich = _render(
        letter,
        shop,
        name=name,
        subject=title,
        values=values,
        lines=order,
    )
    count = sum(line.quantity for line in order.items)
    body = _ORDER_BODIES[event_type].format(count=count, total=total, reason=reason)
    return Letter(ORDERS, title, body, {"order_id": str(order.order_id)}, text, rich)


def low_stock(shop: Shop, stock: LowStock, *, name: str) -> Letter:
    """The letter an administrator gets of ``inventory.low_stock``."""
    title = f"Low stock: {stock.sku}"
    values = {
        "sku": stock.sku,
        "available": str(stock.available),
        "threshold": str(stock.threshold),
    }
    text, rich = _render("low_stock", shop, name=name, subject=title, values=values)
    body = f"{stock.available} units of {stock.sku} left (threshold {stock.threshold})."
    return Letter(ORDERS, title, body, {"sku": stock.sku}, text, rich)


def _lines_text(order: OrderState) -> str:
    rows = [
        f"  {line.quantity} x {line.name} ({line.sku}) at {format_money(line.unit_price)}"
        for line in order.items
    ]
    return "\n".join(rows)


def _lines_html(order: OrderState) -> str:
    rows = "".join(
        "<tr>"
        f"<td>{line.quantity}</td><td>{html.escape(line.name)} ({html.escape(line.sku)})</td>"
        f'<td style="text-align: right;">{html.escape(format_money(line.unit_price))}</td>'
        "</tr>"
        for line in order.items
    )
    total = html.escape(format_money(order.total))
    return (
        '<table style="border-collapse: collapse;">'
        "<tr><th>Qty</th><th>Item</th><th>Unit price</th></tr>"
        f"{rows}"
        f'<tr><td></td><th style="text-align: left;">Total</th>'
        f'<td style="text-align: right;"><b>{total}</b></td></tr>'
        "</table>"
    )
