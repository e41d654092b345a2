"""notification on real PostgreSQL, NATS and SMTP: in-app notifications, preferences, mail."""

from __future__ import annotations

import asyncio
import signal
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from mercato.runner.engines import SmtpSink, free_port
from mercato.runner.mailbox import Mailbox, StoredMessage
from tests.conftest import Harness, RunningService
from tests.integration.accounts import (
    AUTH,
    PASSWORD,
    envelope,
    login,
    publish_events,
    scalar,
    wait_for,
)

NOTIFICATIONS = "/api/v1/notifications"
DEADLINE_SECONDS = 30.0


@dataclass
class Sink:
    """The runner's SMTP sink on a fixed port, stopped and started at will."""

    directory: Path
    port: int
    process: Any = None

    @property
    def engine(self) -> SmtpSink:
        return SmtpSink(self.directory / "mail", port=self.port)

    def start(self) -> None:
        engine = self.engine
        self.process = engine.start(self.directory / "logs" / "smtp.log")
        engine.wait_ready(self.process)

    def stop(self) -> None:
        if self.process is not None:
            self.engine.stop(self.process)
            self.process = None

    @property
    def mailbox(self) -> Mailbox:
        return Mailbox(self.directory / "mail")


@contextmanager
def sink_at(directory: Path) -> Iterator[Sink]:
    sink = Sink(directory, free_port())
    sink.start()
    try:
        yield sink
    finally:
        sink.stop()


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[Sink]:
    with sink_at(tmp_path) as running:
        yield running


@dataclass
class Shop:
    harness: Harness
    auth: RunningService
    notification: RunningService
    sink: Sink


@pytest.fixture
async def shop(harness: Harness, sink: Sink) -> Shop:
    auth = await harness.start("auth")
    notification = await harness.start(
        "notification",
        smtp_host="127.0.0.1",
        smtp_port=sink.port,
        smtp_from="Mercato Test Shop <shop@mercato.test>",
        shop_name="Mercato Test Shop",
        mail_poll_seconds=0.2,
        mail_retry_base_seconds=0.2,
        mail_retry_max_seconds=0.5,
    )
    return Shop(harness, auth, notification, sink)


async def eventually(check: Callable[[], Any], what: str) -> Any:
    """Polls ``check`` (sync or async) until it returns something truthy, or fails with ``what``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE_SECONDS
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"gave up waiting: {what}")
        await asyncio.sleep(0.05)


async def register(shop: Shop, email: str, name: str) -> tuple[uuid.UUID, dict[str, str]]:
    created = await shop.auth.client.post(
        f"{AUTH}/register", json={"email": email, "password": PASSWORD, "name": name}
    )
    assert created.status_code == 201, created.text
    return uuid.UUID(created.json()["id"]), await login(shop.auth, email)


async def known(shop: Shop, user_id: uuid.UUID) -> None:
    """Waits until notification has learnt the account from auth's events."""
    await eventually(
        lambda: scalar(
            shop.notification,
            "SELECT count(*) FROM recipients WHERE id = :id AND email IS NOT NULL",
            id=user_id,
        ),
        f"notification learns {user_id}",
    )


def mail_to(sink: Sink, address: str) -> list[StoredMessage]:
    return [m for m in sink.mailbox.messages() if m.recipients == address]


def order_event(event_type: str, user_id: uuid.UUID, **changes: Any) -> dict[str, Any]:
    order_id = uuid.uuid4()
    data = {
        "order_id": str(order_id),
        "user_id": str(user_id),
        "status": event_type.split(".")[1],
        "items": [
            {
                "product_id": str(uuid.uuid4()),
                "sku": "MUG-1",
                "name": "Espresso cup",
                "quantity": 2,
                "unit_price": {"amount": 450, "currency": "EUR"},
            },
            {
                "product_id": str(uuid.uuid4()),
                "sku": "BEAN-1",
                "name": "Beans <dark roast>",
                "quantity": 1,
                "unit_price": {"amount": 1299, "currency": "EUR"},
            },
        ],
        "total": {"amount": 2199, "currency": "EUR"},
        "charge_id": None,
        "failure_reason": None,
        **changes,
    }
    return envelope(event_type, data)


async def notifications_of(shop: Shop, headers: dict[str, str]) -> list[dict[str, Any]]:
    listed = await shop.notification.client.get(NOTIFICATIONS, headers=headers)
    assert listed.status_code == 200, listed.text
    items: list[dict[str, Any]] = listed.json()["items"]
    return items


async def inbox_holds(shop: Shop, count: int) -> None:
    assert await wait_for(shop.notification, "SELECT count(*) FROM inbox", count) == count


async def test_a_registration_mails_a_welcome_and_notifies_in_app(shop: Shop):
    user_id, headers = await register(shop, "ada@example.com", "Ada Lovelace")

    [welcome] = await eventually(lambda: mail_to(shop.sink, "ada@example.com"), "the welcome")
    message = welcome.read()
    assert message["Subject"] == "Welcome to Mercato Test Shop"
    assert message["From"] == "Mercato Test Shop <shop@mercato.test>"
    assert message["Message-ID"].endswith("@mercato.test>")
    plain = message.get_body(preferencelist=("plain",))
    rich = message.get_body(preferencelist=("html",))
    assert plain is not None
    assert rich is not None
    assert "Hello Ada Lovelace," in plain.get_content()
    assert "Mercato Test Shop" in rich.get_content()

    [notification] = await notifications_of(shop, headers)
    assert notification["category"] == "account"
    assert notification["title"] == "Welcome to Mercato Test Shop"
    assert notification["read_at"] is None
    assert set(notification) >= {"id", "category", "title", "body", "created_at", "data"}

    read = await shop.notification.client.post(
        f"{NOTIFICATIONS}/{notification['id']}/read", headers=headers
    )
    assert read.status_code == 200, read.text
    assert read.json()["read_at"] is not None
    again = await shop.notification.client.post(
        f"{NOTIFICATIONS}/{notification['id']}/read", headers=headers
    )
    assert again.json()["read_at"] == read.json()["read_at"]
    assert (await notifications_of(shop, headers))[0]["read_at"] == read.json()["read_at"]
    assert await scalar(shop.notification, "SELECT count(*) FROM recipients") == 1
    assert user_id == uuid.UUID(str(await scalar(shop.notification, "SELECT id FROM recipients")))


async def test_an_order_confirmation_lists_the_lines_and_the_total(shop: Shop):
    user_id, headers = await register(shop, "grace@example.com", "Grace")
    await known(shop, user_id)
    confirmed = order_event("order.confirmed", user_id)
    await publish_events(shop.harness, [confirmed])

    def confirmation() -> list[StoredMessage]:
        return [m for m in mail_to(shop.sink, "grace@example.com") if "confirmed" in m.subject]

    [mail] = await eventually(confirmation, "the order confirmation")
    message = mail.read()
    plain = message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    rich = message.get_body(preferencelist=("html",)).get_content()  # type: ignore[union-attr]
    assert "2 x Espresso cup (MUG-1) at 4.50 EUR" in plain
    assert "1 x Beans <dark roast> (BEAN-1) at 12.99 EUR" in plain
    assert "Total: 21.99 EUR" in plain
    assert "Beans &lt;dark roast&gt;" in rich  # names are escaped in HTML
    assert "21.99 EUR" in rich

    newest = (await notifications_of(shop, headers))[0]
    assert newest["category"] == "orders"
    assert newest["data"] == {"order_id": confirmed["data"]["order_id"]}


async def test_a_redelivered_event_gives_no_second_notification_and_no_second_email(shop: Shop):
    user_id, headers = await register(shop, "alan@example.com", "Alan")
    await known(shop, user_id)
    failed = order_event("order.failed", user_id, failure_reason="card_declined")
    # The same event three times (distinct NATS messages, as a redelivery after a lost ack).
    await publish_events(shop.harness, [failed, failed, failed])
    await inbox_holds(shop, 2)  # the registration and the order's failure, once each
    assert (
        await wait_for(
            shop.notification, "SELECT count(*) FROM outgoing_mail WHERE status = 'sent'", 2
        )
        == 2
    )
    consumed = await scalar(
        shop.notification, "SELECT count(*) FROM notifications WHERE user_id = :id", id=user_id
    )
    assert consumed == 2
    failures = [m for m in mail_to(shop.sink, "alan@example.com") if "could not" in m.subject]
    assert len(failures) == 1
    plain = failures[0].read().get_body(preferencelist=("plain",))
    assert plain is not None
    assert "(card declined)" in plain.get_content()
    assert [n["category"] for n in await notifications_of(shop, headers)] == ["orders", "account"]


async def test_an_smtp_outage_delays_mail_and_loses_none(shop: Shop):
    user_id, _ = await register(shop, "edsger@example.com", "Edsger")
    await known(shop, user_id)
    await eventually(lambda: mail_to(shop.sink, "edsger@example.com"), "the welcome")

    shop.sink.stop()
    events = [order_event(t, user_id) for t in ("order.confirmed", "order.cancelled")] + [
        order_event("order.confirmed", user_id) for _ in range(3)
    ]
    await publish_events(shop.harness, events)
    await inbox_holds(shop, 1 + len(events))
    # Every mail is queued, and the sender has met the outage on each of them.
    tried = "SELECT count(*) FROM outgoing_mail WHERE status = 'pending' AND attempts >= 1"
    assert await eventually(lambda: scalar(shop.notification, tried), "attempts") >= 1
    await eventually(
        lambda: _equals(scalar(shop.notification, tried), len(events)), "every mail tried"
    )
    assert len(mail_to(shop.sink, "edsger@example.com")) == 1

    shop.sink.start()
    await eventually(
        lambda: _equals(
            scalar(shop.notification, "SELECT count(*) FROM outgoing_mail WHERE status = 'sent'"),
            1 + len(events),
        ),
        "every mail sent after the outage",
    )
    delivered = mail_to(shop.sink, "edsger@example.com")
    assert len(delivered) == 1 + len(events)
    ids = {m.read()["Message-ID"] for m in delivered}
    queued = await _column(shop.notification, "SELECT message_id FROM outgoing_mail")
    assert ids == set(queued)  # each mail exactly once, under the Message-ID it was queued with


async def test_opting_out_stops_the_email_not_the_in_app_notification(shop: Shop):
    user_id, headers = await register(shop, "barbara@example.com", "Barbara")
    await eventually(lambda: mail_to(shop.sink, "barbara@example.com"), "the welcome")
    defaults = await shop.notification.client.get(f"{NOTIFICATIONS}/preferences", headers=headers)
    assert defaults.json() == {"marketing": True, "orders": True, "account": True}

    chosen = await shop.notification.client.put(
        f"{NOTIFICATIONS}/preferences", json={"orders": False}, headers=headers
    )
    assert chosen.status_code == 200, chosen.text
    assert chosen.json() == {"marketing": True, "orders": False, "account": True}
    shown = await shop.notification.client.get(f"{NOTIFICATIONS}/preferences", headers=headers)
    assert shown.json() == chosen.json()

    await publish_events(shop.harness, [order_event("order.confirmed", user_id)])
    await inbox_holds(shop, 2)
    assert [n["category"] for n in await notifications_of(shop, headers)] == ["orders", "account"]
    assert await scalar(shop.notification, "SELECT count(*) FROM outgoing_mail") == 1
    assert len(mail_to(shop.sink, "barbara@example.com")) == 1  # the welcome only


async def test_preferences_refuse_what_is_not_a_choice(shop: Shop):
    _, headers = await register(shop, "frances@example.com", "Frances")
    for body in ({"orders": "maybe"}, {"newsletter": False}):
        refused = await shop.notification.client.put(
            f"{NOTIFICATIONS}/preferences", json=body, headers=headers
        )
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
    anonymous = await shop.notification.client.get(f"{NOTIFICATIONS}/preferences")
    assert anonymous.status_code == 401


async def test_a_notification_of_someone_else_is_not_found(shop: Shop):
    _, ada = await register(shop, "ada2@example.com", "Ada")
    _, bob = await register(shop, "bob@example.com", "Bob")
    [welcome] = await eventually(lambda: notifications_of(shop, ada), "ada's welcome")
    stolen = await shop.notification.client.post(
        f"{NOTIFICATIONS}/{welcome['id']}/read", headers=bob
    )
    assert stolen.status_code == 404
    missing = await shop.notification.client.post(
        f"{NOTIFICATIONS}/{uuid.uuid4()}/read", headers=ada
    )
    assert missing.status_code == 404


async def test_low_stock_goes_to_every_admin(shop: Shop):
    await shop.auth.app.state.accounts.create_admin(email="root@example.com", password=PASSWORD)
    customer_id, _ = await register(shop, "carol@example.com", "Carol")
    made_admin, _ = await register(shop, "dora@example.com", "Dora")
    await known(shop, made_admin)
    root = await login(shop.auth, "root@example.com")
    promoted = await shop.auth.client.put(
        f"{AUTH}/users/{made_admin}/roles", json={"roles": ["admin", "customer"]}, headers=root
    )
    assert promoted.status_code == 200, promoted.text
    await inbox_holds(shop, 4)  # three registrations and a role change
    low = envelope("inventory.low_stock", {"sku": "MUG-1", "available": 2, "threshold": 5})
    await publish_events(shop.harness, [low])

    def warnings() -> list[StoredMessage]:
        return [m for m in shop.sink.mailbox.messages() if m.subject == "Low stock: MUG-1"]

    await eventually(lambda: len(warnings()) == 2, "a warning to each admin")
    assert sorted(m.recipients for m in warnings()) == ["dora@example.com", "root@example.com"]
    assert customer_id not in await _column(
        shop.notification, "SELECT user_id FROM notifications WHERE category = 'orders'"
    )


async def _equals(value: Any, expected: Any) -> bool:
    return bool(await value == expected)


async def _column(running: RunningService, sql: str) -> list[Any]:
    database = running.app.state.platform.database
    async with database.sessionmaker() as session:
        return list((await session.scalars(text(sql))).all())


class Refusing:
    """An aiosmtpd handler refusing every message for good."""

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        return "550 5.1.1 Mailbox unavailable"


async def test_mail_a_relay_keeps_refusing_is_given_up_and_counted(harness: Harness):
    from aiosmtpd.controller import Controller

    port = free_port()
    relay = Controller(Refusing(), hostname="127.0.0.1", port=port)
    relay.start()
    try:
        await harness.start("auth")
        notification = await harness.start(
            "notification",
            smtp_host="127.0.0.1",
            smtp_port=port,
            mail_poll_seconds=0.2,
            mail_retry_base_seconds=0.1,
            mail_retry_max_seconds=0.2,
            mail_max_refusals=2,
        )
        user_id = uuid.uuid4()
        registered = envelope(
            "user.registered",
            {"user_id": str(user_id), "email": "gone@example.com", "name": "Gone", "roles": []},
        )
        await publish_events(harness, [registered])
        failed = "SELECT count(*) FROM outgoing_mail WHERE status = 'failed'"
        assert await eventually(lambda: scalar(notification, failed), "the mail given up") == 1
        attempts, refusals, error = await _row(
            notification, "SELECT attempts, refusals, last_error FROM outgoing_mail"
        )
        assert (attempts, refusals) == (2, 2)
        assert error.startswith("550")
        exposition = (await notification.client.get("/metrics")).text
        assert sample(exposition, "mercato_notification_mail_failed_total", reason="refused") == 1
        assert (
            sample(exposition, "mercato_notification_mail_attempt_failures_total", kind="refused")
            == 2
        )
        # The in-app notification stands whatever became of the email.
        assert await scalar(notification, "SELECT count(*) FROM notifications") == 1
    finally:
        relay.stop()


async def _row(running: RunningService, sql: str) -> Any:
    database = running.app.state.platform.database
    async with database.sessionmaker() as session:
        return (await session.execute(text(sql))).one()


def sample(exposition: str, name: str, **labels: str) -> float | None:
    """The value of one series in a Prometheus exposition."""
    for family in text_string_to_metric_families(exposition):
        for found in family.samples:
            if found.name == name and labels.items() <= found.labels.items():
                return float(found.value)
    return None


async def test_a_crash_after_the_relay_accepted_sends_the_same_message_once_more(
    harness: Harness, sink: Sink
):
    overrides = {"smtp_host": "127.0.0.1", "smtp_port": sink.port, "mail_poll_seconds": 0.2}
    crashing = await harness.spawn(
        "notification", faults="notification.after_relay_accepted", **overrides
    )
    registered = envelope(
        "user.registered",
        {"user_id": str(uuid.uuid4()), "email": "kay@example.com", "name": "Kay", "roles": []},
    )
    await publish_events(harness, [registered])
    assert await crashing.wait_exit() == -signal.SIGKILL
    assert len(mail_to(sink, "kay@example.com")) == 1

    await harness.spawn("notification", crashing.settings)
    await eventually(
        lambda: len(mail_to(sink, "kay@example.com")) == 2, "the mail sent again after the restart"
    )
    first, second = (m.read() for m in mail_to(sink, "kay@example.com"))
    assert first["Message-ID"] == second["Message-ID"]
    assert first["Subject"] == second["Subject"] == "Welcome to Mercato"
