"""The letters notification writes, and how the sender reads an SMTP relay's answers."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from mercato.contracts.inventory import LowStock
from mercato.contracts.order import OrderConfirmed
from mercato.platform.schemas import Money
from mercato.runner.engines import free_port
from mercato.services.notification import letters
from mercato.services.notification.models import OutgoingMail
from mercato.services.notification.sender import (
    DeliveryDeferred,
    DeliveryRefused,
    SmtpRelay,
    compose,
)
from mercato.services.notification.service import message_domain
from mercato.services.notification.settings import Settings

SHOP = letters.Shop("Bottega <Roma>", "https://shop.example")


def order(**changes: object) -> OrderConfirmed:
    values: dict[str, object] = {
        "order_id": uuid.UUID("12345678-9abc-4def-8123-456789abcdef"),
        "user_id": uuid.uuid4(),
        "status": "confirmed",
        "items": [
            {
                "product_id": uuid.uuid4(),
                "sku": "CUP-1",
                "name": "Cup & saucer",
                "quantity": 3,
                "unit_price": {"amount": 1005, "currency": "EUR"},
            }
        ],
        "total": {"amount": 3015, "currency": "EUR"},
        "charge_id": None,
        "failure_reason": None,
        **changes,
    }
    return OrderConfirmed.model_validate(values)


@pytest.mark.parametrize(
    ("amount", "currency", "shown"),
    [(1250, "EUR", "12.50 EUR"), (5, "USD", "0.05 USD"), (1200, "JPY", "1200 JPY")],
)
def test_money_reads_in_major_units(amount: int, currency: str, shown: str) -> None:
    assert letters.format_money(Money(amount=amount, currency=currency)) == shown


def test_an_order_letter_carries_lines_total_and_the_shop_escaped_in_html() -> None:
    letter = letters.about_order(SHOP, "order.confirmed", order(), name="Ada <3")
    assert letter.category == "orders"
    assert letter.title == "Your order 12345678 is confirmed"
    assert letter.data == {"order_id": "12345678-9abc-4def-8123-456789abcdef"}
    assert "Hello Ada <3," in letter.text
    assert "3 x Cup & saucer (CUP-1) at 10.05 EUR" in letter.text
    assert "Total: 30.15 EUR" in letter.text
    assert "Bottega <Roma>" in letter.text
    assert "Hello Ada &lt;3," in letter.html
    assert "Cup &amp; saucer" in letter.html
    assert "Bottega &lt;Roma&gt;" in letter.html
    assert "<Roma>" not in letter.html
    assert "30.15 EUR" in letter.html


def test_each_order_event_has_its_own_letter() -> None:
    titles = {
        kind: letters.about_order(SHOP, kind, order(failure_reason="out_of_stock"), name="A").title
        for kind in ("order.confirmed", "order.failed", "order.cancelled", "order.refunded")
    }
    assert len(set(titles.values())) == 4
    failed = letters.about_order(
        SHOP, "order.failed", order(failure_reason="out_of_stock"), name="A"
    )
    assert "(out of stock)" in failed.text


def test_low_stock_and_welcome_letters() -> None:
    low = letters.low_stock(SHOP, LowStock(sku="CUP-1", available=2, threshold=5), name="Root")
    assert (low.category, low.title, low.data) == ("orders", "Low stock: CUP-1", {"sku": "CUP-1"})
    assert "2 units available, below its threshold of 5" in low.text
    welcome = letters.welcome(SHOP, name="Ada", email="ada@example.com")
    assert welcome.category == "account"
    assert "ada@example.com" in welcome.text


def test_message_ids_are_made_under_the_senders_domain() -> None:
    assert message_domain("Mercato <no-reply@shop.example>") == "shop.example"
    assert message_domain("nobody") == "mercato.localhost"


def queued_mail(**changes: object) -> OutgoingMail:
    values: dict[str, object] = {
        "id": uuid.uuid4(),
        "message_id": "<fixed@shop.example>",
        "recipient": "ada@example.com",
        "subject": "Grüße",
        "text_body": "plain",
        "html_body": "<p>rich</p>",
        "created_at": datetime(2026, 12, 2, tzinfo=UTC),
        **changes,
    }
    return OutgoingMail(**values)


def test_a_composed_mail_has_both_parts_and_its_fixed_message_id() -> None:
    message = compose(queued_mail(), sender="Shop <shop@shop.example>")
    assert message["Message-ID"] == "<fixed@shop.example>"
    assert message["Subject"] == "Grüße"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]


class Answering:
    """An aiosmtpd handler answering every message with one fixed reply."""

    def __init__(self, reply: str) -> None:
        self.reply = reply

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        return self.reply


@contextmanager
def relay_answering(reply: str) -> Iterator[Settings]:
    """A real SMTP server (aiosmtpd) answering ``reply`` to every message."""
    port = free_port()
    controller = Controller(Answering(reply), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield Settings(smtp_host="127.0.0.1", smtp_port=port, smtp_timeout_seconds=5)
    finally:
        controller.stop()


def a_message() -> EmailMessage:
    return compose(queued_mail(), sender="shop@shop.example")


@pytest.mark.parametrize(
    ("reply", "outcome"),
    [
        ("250 OK", None),
        ("451 Try again later", DeliveryDeferred),
        ("550 Mailbox unavailable", DeliveryRefused),
    ],
)
def test_the_relay_answer_decides_retry_or_refusal(reply: str, outcome: type | None) -> None:
    with relay_answering(reply) as settings:
        send = SmtpRelay(settings).send(a_message())
        if outcome is None:
            asyncio.run(send)
        else:
            with pytest.raises(outcome):
                asyncio.run(send)


def test_a_relay_nobody_listens_on_defers() -> None:
    settings = Settings(smtp_host="127.0.0.1", smtp_port=free_port(), smtp_timeout_seconds=2)
    with pytest.raises(DeliveryDeferred):
        asyncio.run(SmtpRelay(settings).send(a_message()))


def test_no_relay_configured_defers() -> None:
    with pytest.raises(DeliveryDeferred, match="no SMTP relay"):
        asyncio.run(SmtpRelay(Settings(smtp_host=None)).send(a_message()))
