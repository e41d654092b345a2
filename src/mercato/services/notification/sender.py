"""The mail sender: delivers ``outgoing_mail`` over SMTP, retrying with backoff, marks it sent.

Delivery is at least once. Each mail is sent inside a transaction that holds its row locked
(``FOR UPDATE SKIP LOCKED``: two senders never take the same mail) and marks it sent once the
relay said 250; a crash between that 250 and the commit sends the mail once more. Every
attempt carries the same Message-ID, so a receiving side can drop the repeat.

A relay that is down, times out or answers 4xx defers the mail: it is tried again after an
exponential backoff until it is ``mail_give_up_after_seconds`` old. A 5xx refusal of the mail
(sender, recipient, content) counts as a refusal; after ``mail_max_refusals`` of them the
mail is failed for good. A refused login is the relay refusing *us*, not the mail: it defers.

smtplib runs in a worker thread (``asyncio.to_thread``): the standard library's client,
STARTTLS and AUTH included, without blocking the event loop or adding a dependency.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import smtplib
import ssl
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime

from mercato.platform import faults
from mercato.platform.db import UnitOfWork, utcnow
from mercato.platform.metrics import Metrics
from mercato.services.notification import repository
from mercato.services.notification.models import OutgoingMail
from mercato.services.notification.settings import Settings

log = logging.getLogger("mercato.notification.sender")
BACKLOG_EVERY_SECONDS = 5.0


class DeliveryDeferred(Exception):
    """The relay could not take the mail now (down, timed out, 4xx): try again later."""


class DeliveryRefused(Exception):
    """The relay refused the mail itself (5xx)."""


class SmtpRelay:
    """The SMTP relay of the settings, spoken to with smtplib in a worker thread."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    async def send(self, message: EmailMessage) -> None:
        """Delivers ``message``; raises DeliveryDeferred or DeliveryRefused when it cannot."""
        try:
            await asyncio.to_thread(self._send, message)
        except smtplib.SMTPAuthenticationError as exc:
            raise DeliveryDeferred(f"the relay refused our login: {_reply(exc)}") from exc
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            error = DeliveryRefused if all(c >= 500 for c in codes) else DeliveryDeferred
            raise error(f"recipients refused: {exc.recipients}") from exc
        except smtplib.SMTPResponseException as exc:
            error = DeliveryRefused if exc.smtp_code >= 500 else DeliveryDeferred
            raise error(_reply(exc)) from exc
        except (smtplib.SMTPException, OSError) as exc:  # refused, reset, timed out, no TLS
            raise DeliveryDeferred(f"{type(exc).__name__}: {exc}") from exc

    def _send(self, message: EmailMessage) -> None:
        settings = self._settings
        if settings.smtp_host is None:
            raise smtplib.SMTPConnectError(421, b"no SMTP relay configured (MERCATO_SMTP_HOST)")
        with smtplib.SMTP(
            settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout_seconds
        ) as client:
            if settings.smtp_starttls:
                client.starttls(context=ssl.create_default_context())
            if settings.smtp_username and settings.smtp_password:
                client.login(settings.smtp_username, settings.smtp_password.get_secret_value())
            client.send_message(message)


def _reply(exc: smtplib.SMTPResponseException) -> str:
    detail = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else ""
    return f"{exc.smtp_code} {detail}".strip()


def compose(mail: OutgoingMail, *, sender: str) -> EmailMessage:
    """The message of a queued mail: plain text with an HTML alternative, its fixed Message-ID."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = mail.recipient
    message["Subject"] = mail.subject
    message["Date"] = format_datetime(mail.created_at)
    message["Message-ID"] = mail.message_id
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies to us
    message.set_content(mail.text_body)
    message.add_alternative(mail.html_body, subtype="html")
    return message


class MailMetrics:
    """What the sender reports: sent, failed, attempts that failed, and the backlog."""

    def __init__(self, metrics: Metrics) -> None:
        self.sent = metrics.counter(
            "mercato_notification_mail_sent_total", "Emails the SMTP relay accepted."
        )
        self.failed = metrics.counter(
            "mercato_notification_mail_failed_total",
            "Emails given up: refused too often, or undeliverable for too long.",
            ["reason"],
            known={"reason": ("refused", "expired")},
        )
        self.attempt_failures = metrics.counter(
            "mercato_notification_mail_attempt_failures_total",
            "Delivery attempts that failed, by kind (deferred: relay down or 4xx; refused: 5xx).",
            ["kind"],
            known={"kind": ("deferred", "refused")},
        )
        self.pending = metrics.gauge(
            "mercato_notification_mail_pending", "Emails queued and not yet sent."
        )
        self.oldest_age = metrics.gauge(
            "mercato_notification_mail_oldest_pending_age_seconds",
            "Age of the oldest email not yet sent (0 when none waits).",
        )


class MailSender:
    """The background job delivering queued mail."""

    def __init__(
        self,
        *,
        settings: Settings,
        unit_of_work: Callable[[], UnitOfWork],
        relay: SmtpRelay,
        metrics: MailMetrics,
    ) -> None:
        self._settings = settings
        self._uow = unit_of_work
        self._relay = relay
        self._metrics = metrics
        self._wake = asyncio.Event()
        self._measured_at = 0.0

    def wake(self) -> None:
        """Asks the sender to look at the queue now (a mail was queued)."""
        self._wake.set()

    async def run(self) -> None:
        """Delivers due mail until cancelled, waking when mail is queued and on a timer."""
        while True:
            sent = await self.deliver_due()
            if time.monotonic() - self._measured_at >= BACKLOG_EVERY_SECONDS:
                await self.measure_backlog()
            if sent == self._settings.mail_batch_size:
                continue
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._settings.mail_poll_seconds)

    async def deliver_due(self) -> int:
        """Attempts up to one batch of due mail; returns how many attempts were made."""
        attempts = 0
        while attempts < self._settings.mail_batch_size and await self.deliver_next():
            attempts += 1
        return attempts

    async def deliver_next(self) -> bool:
        """Attempts the next due mail; False when none is due."""
        async with self._uow() as uow:
            now = utcnow()
            mail = await repository.due_mail_for_update(uow.session, now=now)
            if mail is None:
                return False
            mail.attempts += 1
            given_up: str | None = None
            try:
                await self._relay.send(compose(mail, sender=self._settings.smtp_from))
            except DeliveryRefused as exc:
                mail.refusals += 1
                self._metrics.attempt_failures.labels(kind="refused").inc()
                given_up = self._retry_or_give_up(mail, str(exc), now, refused=True)
            except DeliveryDeferred as exc:
                self._metrics.attempt_failures.labels(kind="deferred").inc()
                given_up = self._retry_or_give_up(mail, str(exc), now, refused=False)
            else:
                # A crash here, after the relay's 250, sends the mail again (same Message-ID).
                await faults.point("notification.after_relay_accepted")
                mail.status = repository.SENT
                mail.sent_at = utcnow()
                mail.last_error = None
                self._metrics.sent.inc()
            await uow.commit()
        # Attempts and 250s are counted as they happen; a give-up once it is recorded.
        if given_up is not None:
            self._metrics.failed.labels(reason=given_up).inc()
        return True

    def _retry_or_give_up(
        self, mail: OutgoingMail, error: str, now: datetime, *, refused: bool
    ) -> str | None:
        """Schedules the next attempt, or fails the mail for good; the reason if it did."""
        settings = self._settings
        mail.last_error = error[:2000]
        age = (now - mail.created_at).total_seconds()
        if refused and mail.refusals >= settings.mail_max_refusals:
            reason = "refused"
        elif age >= settings.mail_give_up_after_seconds:
            reason = "expired"
        else:
            delay = min(
                settings.mail_retry_max_seconds,
                settings.mail_retry_base_seconds * 2 ** (mail.attempts - 1),
            )
            mail.next_attempt_at = now + timedelta(seconds=delay)
            log.warning(
                "mail not delivered; will retry",
                extra={"mail_id": str(mail.id), "attempts": mail.attempts, "error": error},
            )
            return None
        mail.status = repository.FAILED
        log.error(
            "giving up on a mail",
            extra={"mail_id": str(mail.id), "reason": reason, "error": error},
        )
        return reason

    async def measure_backlog(self) -> None:
        """Sets the pending and oldest-age gauges from the queue."""
        self._measured_at = time.monotonic()
        async with self._uow() as uow:
            count, oldest = await repository.mail_backlog(uow.session)
        self._metrics.pending.set(count)
        self._metrics.oldest_age.set((utcnow() - oldest).total_seconds() if oldest else 0)
