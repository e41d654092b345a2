"""The local mailbox: file names that sort by arrival, no half messages, numbered lookups."""

from __future__ import annotations

from pathlib import Path

import pytest

from mercato.runner.mailbox import Mailbox, MailboxError


def raw(subject: str) -> bytes:
    headers = f"From: shop@example.com\r\nTo: ada@example.com\r\nSubject: {subject}\r\n"
    return (headers + "\r\nHi\r\n").encode()


def test_messages_delivered_in_one_burst_keep_their_order(tmp_path: Path) -> None:
    mailbox = Mailbox(tmp_path / "mail")
    for number in range(50):  # many within one microsecond's reach
        mailbox.deliver(sender="shop@example.com", recipients=["ada@example.com"],
                        content=raw(f"message {number}"))  # fmt: skip
    subjects = [m.subject for m in Mailbox(tmp_path / "mail").messages()]
    assert subjects == [f"message {number}" for number in range(50)]
    # The order is the file names' own: any tool that sorts them agrees.
    names = sorted(p.name for p in (tmp_path / "mail").iterdir())
    assert names == [m.path.name for m in Mailbox(tmp_path / "mail").messages()]


def test_a_stored_message_keeps_its_envelope(tmp_path: Path) -> None:
    mailbox = Mailbox(tmp_path / "mail")
    path = mailbox.deliver(
        sender="shop@example.com", recipients=["ada@example.com", "bcc@example.com"],
        content=raw("Receipt"),
    )  # fmt: skip
    stored = mailbox.message(1)
    assert stored.path == path
    assert stored.recipients == "ada@example.com, bcc@example.com"
    assert stored.read()["Return-Path"] == "<shop@example.com>"
    assert stored.read().get_content().strip() == "Hi"


def test_a_half_written_message_is_not_listed_and_is_discarded(tmp_path: Path) -> None:
    mailbox = Mailbox(tmp_path / "mail")
    mailbox.deliver(sender="a@example.com", recipients=["b@example.com"], content=raw("Whole"))
    partial = tmp_path / "mail" / ".20261202T000000.000000Z-abcdef.eml.partial"
    partial.write_bytes(b"Subject: Half")
    assert [m.subject for m in mailbox.messages()] == ["Whole"]
    mailbox.discard_partials()
    assert not partial.exists()
    assert [m.subject for m in mailbox.messages()] == ["Whole"]


def test_an_unknown_number_names_the_ones_held(tmp_path: Path) -> None:
    mailbox = Mailbox(tmp_path / "mail")
    with pytest.raises(MailboxError, match="holds none"):
        mailbox.message(1)
    mailbox.deliver(sender="a@example.com", recipients=["b@example.com"], content=raw("One"))
    with pytest.raises(MailboxError, match="1 to 1"):
        mailbox.message(0)
