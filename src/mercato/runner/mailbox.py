"""The local mailbox, ``<data-dir>/mail/``: one ``.eml`` file per message the sink accepted.

A file's name starts with its arrival time (UTC, to the microsecond, never repeated by
one sink), so the names sort by arrival; ``mercato mail`` numbers them from 1, oldest
first. A message is written under a dot-name, flushed to disk, then renamed: readers
never see half a message, and the sink says 250 only once the rename is on disk.
"""

from __future__ import annotations

import contextlib
import email.policy
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from uuid import uuid4

MAIL_DIR = "mail"
SUFFIX = ".eml"
STAMP = "%Y%m%dT%H%M%S.%fZ"
RECIPIENTS_HEADER = "X-Mercato-Recipients"
SHOWN_HEADERS = ("From", "To", "Cc", "Subject", "Date")


class MailboxError(LookupError):
    """There is no message of that number."""


@dataclass(frozen=True)
class StoredMessage:
    """One received message, as ``mercato mail`` lists it."""

    number: int
    path: Path
    received_at: datetime
    recipients: str
    subject: str

    def read(self) -> EmailMessage:
        """The parsed message (headers decoded, MIME parts reachable)."""
        with open(self.path, "rb") as file:
            message = BytesParser(policy=email.policy.default).parse(file)
        assert isinstance(message, EmailMessage)
        return message


class Mailbox:
    """The ``.eml`` files of one data dir."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._last = datetime.min.replace(tzinfo=UTC)

    @classmethod
    def of(cls, data_dir: Path) -> Mailbox:
        """The mailbox of a data dir."""
        return cls(data_dir / MAIL_DIR)

    def deliver(self, *, sender: str, recipients: list[str], content: bytes) -> Path:
        """Stores one accepted message durably; returns once it is on disk."""
        self.directory.mkdir(parents=True, exist_ok=True)
        received = self._arrival()
        newline = b"\r\n" if b"\r\n" in content else b"\n"
        envelope = [
            f"Return-Path: <{sender}>",
            f"{RECIPIENTS_HEADER}: {', '.join(recipients)}",
        ]
        data = b"".join(line.encode() + newline for line in envelope) + content
        path = self.directory / f"{received.strftime(STAMP)}-{uuid4().hex[:6]}{SUFFIX}"
        partial = self.directory / f".{path.name}.partial"
        with open(partial, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        partial.rename(path)
        _sync_directory(self.directory)
        return path

    def discard_partials(self) -> None:
        """Removes half-written files a killed sink left (their senders got no 250)."""
        for partial in self.directory.glob(".*.partial"):
            partial.unlink(missing_ok=True)

    def messages(self) -> list[StoredMessage]:
        """Every message, oldest first, numbered from 1."""
        if not self.directory.is_dir():
            return []
        paths = sorted(p for p in self.directory.glob(f"*{SUFFIX}") if not p.name.startswith("."))
        return [_summary(number, path) for number, path in enumerate(paths, start=1)]

    def message(self, number: int) -> StoredMessage:
        """Message ``number`` of :meth:`messages`."""
        messages = self.messages()
        if not 1 <= number <= len(messages):
            held = f"1 to {len(messages)}" if messages else "none"
            raise MailboxError(f"no message {number} in {self.directory} (it holds {held})")
        return messages[number - 1]

    def _arrival(self) -> datetime:
        # Strictly increasing, so two messages in one microsecond still sort by arrival.
        now = datetime.now(UTC)
        self._last = max(now, self._last + timedelta(microseconds=1))
        return self._last


def _summary(number: int, path: Path) -> StoredMessage:
    with open(path, "rb") as file:
        headers = BytesParser(policy=email.policy.default).parse(file, headersonly=True)
    try:
        received = datetime.strptime(path.name.split("-", 1)[0], STAMP).replace(tzinfo=UTC)
    except ValueError:  # a file someone put there by hand
        received = datetime.fromtimestamp(path.stat().st_mtime, UTC)
    return StoredMessage(
        number=number,
        path=path,
        received_at=received,
        recipients=str(headers.get(RECIPIENTS_HEADER) or headers.get("To") or ""),
        subject=str(headers.get("Subject") or ""),
    )


def describe(stored: StoredMessage, *, prefer: str = "plain") -> str:
    """The message as ``mercato mail show`` prints it: headers, parts, then one body.

    ``prefer`` is the body shown when the message has both: ``plain`` or ``html``.
    """
    message = stored.read()
    lines = [f"{name}: {message[name]}" for name in SHOWN_HEADERS if message[name] is not None]
    lines.append(f"Delivered to: {stored.recipients}")
    lines.append(f"Received: {stored.received_at.isoformat(timespec='seconds')}")
    lines.append(f"File: {stored.path}")
    parts = [
        f"{part.get_content_type()} ({len(part.get_content())} characters)"
        if part.get_content_maintype() == "text"
        else f"{part.get_content_type()} {part.get_filename() or ''}".rstrip()
        for part in message.walk()
        if not part.is_multipart()
    ]
    lines.append(f"Parts: {', '.join(parts)}")
    order = ("html", "plain") if prefer == "html" else ("plain", "html")
    body = message.get_body(preferencelist=order)
    text = body.get_content() if isinstance(body, EmailMessage) else ""
    return "\n".join(lines) + "\n\n" + str(text).rstrip("\n")


def _sync_directory(directory: Path) -> None:
    """Makes a rename in ``directory`` durable."""
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        with contextlib.suppress(OSError):  # some file systems refuse; the file itself is synced
            os.fsync(descriptor)
    finally:
        os.close(descriptor)
