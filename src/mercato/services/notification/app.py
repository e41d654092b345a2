"""Builds the notification service."""

from __future__ import annotations

from fastapi import FastAPI

from mercato.platform.app import Platform
from mercato.services.notification import routes
from mercato.services.notification.models import Base
from mercato.services.notification.sender import MailMetrics, MailSender, SmtpRelay
from mercato.services.notification.service import MailCounters, Notifications, Notifier
from mercato.services.notification.settings import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    """The notification app: event handlers fill the mail queue, the sender empties it."""
    settings = settings or Settings()
    notifier = Notifier(settings)
    platform = Platform(settings, metadata=Base.metadata, handlers=notifier.handlers())
    assert platform.database is not None
    sender = MailSender(
        settings=settings,
        unit_of_work=platform.database.unit_of_work,
        relay=SmtpRelay(settings),
        metrics=MailMetrics(platform.metrics),
    )
    notifier.report_to(MailCounters(platform.metrics), mail_queued=sender.wake)
    platform.add_job("mail-sender", sender.run)
    app = platform.create_app(routers=[routes.router])
    app.state.notifications = Notifications(unit_of_work=platform.database.unit_of_work)
    app.state.mail_sender = sender
    return app
