"""notification's use cases: notifications from events, reading them, mail preferences.

Every handler runs inside the consumer's transaction, the one that records the event in the
inbox: the in-app notification and the mail to send (``outgoing_mail``) commit with it or not
at all, and the sender (:mod:`mercato.services.notification.sender`) delivers the mail later.
An opt-out stops the email of its category, never the in-app notification. Who an account is
(address, name, administrator or not) comes from auth's and user's events, never from a call.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from email.utils import parseaddr
from typing import Any

from mercato.contracts.auth import RolesChanged, UserRegistered
from mercato.contracts.inventory import LowStock
from mercato.contracts.order import OrderState
from mercato.contracts.user import UserUpdated
from mercato.platform.db import UnitOfWork, utcnow
from mercato.platform.envelope import Event
from mercato.platform.errors import NotFound
from mercato.platform.events import Handler
from mercato.platform.metrics import Metrics
from mercato.platform.pagination import PageRequest, created_before
from mercato.services.notification import letters, repository
from mercato.services.notification.letters import CATEGORIES, Letter, Shop
from mercato.services.notification.models import Notification, OutgoingMail, Preferences
from mercato.services.notification.settings import Settings

log = logging.getLogger("mercato.notification")
ADMIN = "admin"
# How a letter greets someone whose name notification has not learnt (yet).
UNKNOWN_NAME = "there"


class NotificationNotFound(NotFound):
    """No such notification of the caller's."""

    slug, title = "notification-not-found", "Notification not found"


class MailCounters:
    """The counters of the mail queue's intake."""

    def __init__(self, metrics: Metrics) -> None:
        self.queued = metrics.counter(
            "mercato_notification_mail_queued_total",
            "Emails queued for the sender, by category.",
            ["category"],
            known={"category": CATEGORIES},
        )
        self.skipped = metrics.counter(
            "mercato_notification_mail_skipped_total",
            "Notifications sent without an email: opted out, or no address known.",
            ["reason"],
            known={"reason": ("opted_out", "no_address")},
        )


def message_domain(sender: str) -> str:
    """The domain of the From address, which Message-IDs are made under."""
    _, address = parseaddr(sender)
    domain = address.rpartition("@")[2] if "@" in address else ""
    return domain or "mercato.localhost"


class Notifier:
    """The event handlers: each writes notifications and queues mail in the consumer's
    transaction (the ``uow`` it is given)."""

    def __init__(self, settings: Settings) -> None:
        self._shop = Shop(settings.shop_name, settings.shop_url)
        self._domain = message_domain(settings.smtp_from)
        self._counters: MailCounters | None = None
        self._mail_queued: Callable[[], None] = lambda: None

    def report_to(self, counters: MailCounters, mail_queued: Callable[[], None]) -> None:
        """Counts into ``counters`` and calls ``mail_queued`` (the sender's wake-up) per mail.

        Separate from the constructor: the handlers go into the platform, whose metrics
        registry exists only once the platform does.
        """
        self._counters = counters
        self._mail_queued = mail_queued

    def handlers(self) -> dict[str, Handler]:
        """The handler of every event type notification consumes."""
        return {
            "user.registered": self.welcome,
            "user.updated": self.follow_profile,
            "auth.roles_changed": self.follow_roles,
            "order.confirmed": self.tell_about_order,
            "order.failed": self.tell_about_order,
            "order.cancelled": self.tell_about_order,
            "order.refunded": self.tell_about_order,
            "inventory.low_stock": self.warn_admins_of_low_stock,
        }

    # -- event handlers (inside the consumer's transaction) -----------------------------

    async def welcome(self, event: Event[UserRegistered], uow: UnitOfWork) -> None:
        """Handles ``user.registered``: learns the account, welcomes it."""
        account = event.payload
        await repository.remember_registration(
            uow.session,
            user_id=account.user_id,
            email=account.email,
            name=account.name,
            is_admin=ADMIN in account.roles,
            now=utcnow(),
        )
        letter = letters.welcome(self._shop, name=account.name, email=account.email)
        await self._notify(uow, event, account.user_id, account.email, letter)

    async def follow_roles(self, event: Event[RolesChanged], uow: UnitOfWork) -> None:
        """Handles ``auth.roles_changed``: learns who the administrators are."""
        change = event.payload
        await repository.remember_roles(
            uow.session, user_id=change.user_id, is_admin=ADMIN in change.after, now=utcnow()
        )

    async def follow_profile(self, event: Event[UserUpdated], uow: UnitOfWork) -> None:
        """Handles ``user.updated``: a new name greets the customer from now on."""
        name = event.payload.changed.get("name")
        if name:
            await repository.rename(
                uow.session, user_id=event.payload.user_id, name=name, now=utcnow()
            )

    async def tell_about_order(self, event: Event[OrderState], uow: UnitOfWork) -> None:
        """Handles ``order.confirmed/failed/cancelled/refunded``: tells the customer."""
        order = event.payload
        account = await repository.recipient(uow.session, order.user_id)
        name = (account.name if account else None) or UNKNOWN_NAME
        letter = letters.about_order(self._shop, event.type, order, name=name)
        await self._notify(uow, event, order.user_id, account.email if account else None, letter)

    async def warn_admins_of_low_stock(self, event: Event[LowStock], uow: UnitOfWork) -> None:
        """Handles ``inventory.low_stock``: tells every administrator."""
        for admin in await repository.admins(uow.session):
            letter = letters.low_stock(self._shop, event.payload, name=admin.name or UNKNOWN_NAME)
            await self._notify(uow, event, admin.id, admin.email, letter)

    async def _notify(
        self,
        uow: UnitOfWork,
        event: Event[Any],
        user_id: uuid.UUID,
        email: str | None,
        letter: Letter,
    ) -> None:
        """Stores the notification and, unless the reader opted out, queues its email."""
        now = utcnow()
        notification_id = uuid.uuid4()
        created = await repository.insert_notification_once(
            uow.session,
            {
                "id": notification_id,
                "user_id": user_id,
                "event_id": event.id,
                "category": letter.category,
                "title": letter.title,
                "body": letter.body,
                "data": letter.data,
                "created_at": now,
                "read_at": None,
            },
        )
        if not created:
            return
        if email is None:
            log.warning(
                "no address known for a notification's reader; no email",
                extra={"user_id": str(user_id), "event_type": event.type},
            )
            self._count_skipped("no_address")
            return
        stored = await repository.preferences(uow.session, user_id)
        if not wanted(stored)[letter.category]:
            self._count_skipped("opted_out")
            return
        mail_id = uuid.uuid4()
        uow.session.add(
            OutgoingMail(
                id=mail_id,
                notification_id=notification_id,
                message_id=f"<{mail_id}@{self._domain}>",
                recipient=email,
                subject=letter.title,
                text_body=letter.text,
                html_body=letter.html,
                status=repository.PENDING,
                attempts=0,
                refusals=0,
                last_error=None,
                created_at=now,
                next_attempt_at=now,
                sent_at=None,
            )
        )
        # Counted before the consumer commits: a handler rolled back and redelivered counts
        # twice. mercato_notification_mail_pending, measured from the table, is exact.
        if self._counters is not None:
            self._counters.queued.labels(category=letter.category).inc()
        self._mail_queued()

    def _count_skipped(self, reason: str) -> None:
        if self._counters is not None:
            self._counters.skipped.labels(reason=reason).inc()


def wanted(stored: Preferences | None) -> dict[str, bool]:
    """Which categories of email stored preferences let through (all, when none are stored)."""
    if stored is None:
        return dict.fromkeys(CATEGORIES, True)
    return {category: bool(getattr(stored, category)) for category in CATEGORIES}


class Notifications:
    """The use cases of the API: reading notifications, choosing which emails come."""

    def __init__(self, *, unit_of_work: Callable[[], UnitOfWork]) -> None:
        self._uow = unit_of_work

    async def page(self, user_id: uuid.UUID, request: PageRequest) -> list[Notification]:
        """A user's notifications, newest first (``limit + 1`` rows: see ``page_of``)."""
        async with self._uow() as uow:
            return await repository.notifications_page(
                uow.session,
                user_id=user_id,
                limit=request.limit + 1,
                after=created_before(request),
            )

    async def mark_read(self, user_id: uuid.UUID, notification_id: uuid.UUID) -> Notification:
        """Marks a notification read; reading it again keeps the first time."""
        async with self._uow() as uow:
            notification = await repository.notification_of(uow.session, user_id, notification_id)
            if notification is None:
                raise NotificationNotFound("No such notification.")
            if notification.read_at is None:
                notification.read_at = utcnow()
                await uow.commit()
            return notification

    async def preferences(self, user_id: uuid.UUID) -> dict[str, bool]:
        """Which categories of email a user gets (every one unless they opted out)."""
        async with self._uow() as uow:
            return wanted(await repository.preferences(uow.session, user_id))

    async def set_preferences(
        self, user_id: uuid.UUID, choices: dict[str, bool]
    ) -> dict[str, bool]:
        """Replaces which categories of email a user gets."""
        async with self._uow() as uow:
            await repository.store_preferences(
                uow.session, user_id=user_id, choices=choices, now=utcnow()
            )
            await uow.commit()
        return dict(choices)
