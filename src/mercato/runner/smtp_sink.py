"""The local SMTP sink behind the ``smtp`` engine: every message it accepts is a file.

``python -m mercato.runner.smtp_sink --port P --mail-dir D`` (the runner starts it).
It accepts any sender and recipient, relays nothing, and answers 250 only once the
message is on disk in the mailbox (:mod:`mercato.runner.mailbox`).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from pathlib import Path

from aiosmtpd.smtp import SMTP, Envelope, Session

from mercato.runner.mailbox import Mailbox

log = logging.getLogger("mercato.smtp_sink")
HOSTNAME = "mercato-smtp-sink"


class MailboxHandler:
    """aiosmtpd's handler: DATA goes to the mailbox."""

    def __init__(self, mailbox: Mailbox) -> None:
        self.mailbox = mailbox

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        """Stores the message, then accepts it; a message that cannot be stored is deferred."""
        content = envelope.original_content or b""
        recipients = list(envelope.rcpt_tos)
        try:
            path = await asyncio.to_thread(
                self.mailbox.deliver,
                sender=str(envelope.mail_from or ""),
                recipients=recipients,
                content=content,
            )
        except OSError as exc:
            log.error("could not store a message to %s: %s", ", ".join(recipients), exc)
            return "451 4.3.0 Could not store the message, try again later"
        log.info("stored %s for %s (%d B)", path.name, ", ".join(recipients), len(content))
        return f"250 2.0.0 Stored as {path.name}"


async def serve(host: str, port: int, mailbox: Mailbox) -> None:
    """Serves SMTP on ``host:port`` until SIGTERM or SIGINT."""
    mailbox.directory.mkdir(parents=True, exist_ok=True)
    mailbox.discard_partials()
    handler = MailboxHandler(mailbox)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, hostname=HOSTNAME, enable_SMTPUTF8=True), host, port
    )
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info("accepting mail on %s:%d into %s", host, port, mailbox.directory)
    await stop.wait()
    server.close()
    await server.wait_closed()
    log.info("stopped")


def main() -> None:
    """The sink's command line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--mail-dir", type=Path, required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    # Nothing but our own lines: aiosmtpd logs every command at INFO.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    asyncio.run(serve(args.host, args.port, Mailbox(args.mail_dir)))


if __name__ == "__main__":
    main()
