"""The local SMTP sink: real mail over SMTP, read back as files and through `mercato mail`."""

from __future__ import annotations

import re
import smtplib
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mercato.cli import app
from mercato.runner.engines import SmtpSink, free_port
from mercato.runner.mailbox import Mailbox


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@contextmanager
def sink_running(data_dir: Path, port: int) -> Iterator[SmtpSink]:
    """The sink as the runner starts it (its mail in <data-dir>/mail), stopped afterwards."""
    sink = SmtpSink(data_dir / "mail", port=port)
    process = sink.start(data_dir / "logs" / "smtp.log")
    try:
        sink.wait_ready(process)
        yield sink
    finally:
        sink.stop(process)
    assert process.returncode == 0, (data_dir / "logs" / "smtp.log").read_text()


def letter(subject: str, to: str = "ada@example.com", body: str = "Hello.") -> EmailMessage:
    message = EmailMessage()
    message["From"] = "Mercato <shop@mercato.example>"
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    return message


def send(sink: SmtpSink, message: EmailMessage, to: list[str] | None = None) -> None:
    with smtplib.SMTP(sink.host, sink.port, timeout=10) as client:
        client.send_message(message, to_addrs=to)


def columns(line: str) -> list[str]:
    """A line of `mercato mail`, split where two or more spaces separate its columns."""
    return re.split(r"\s{2,}", line.strip())


def mercato(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def test_every_accepted_message_is_a_file_by_the_time_the_sink_answers(data_dir: Path) -> None:
    with sink_running(data_dir, free_port()) as sink:
        for number in range(3):
            send(sink, letter(f"Order {number} confirmed"))
            # 250 came after the file was on disk: nothing to wait for.
            assert len(list((data_dir / "mail").glob("*.eml"))) == number + 1
    files = sorted((data_dir / "mail").glob("*.eml"))
    assert [Mailbox(data_dir / "mail").message(n).subject for n in (1, 2, 3)] == [
        "Order 0 confirmed",
        "Order 1 confirmed",
        "Order 2 confirmed",
    ]
    assert [f.name for f in files] == [m.path.name for m in Mailbox.of(data_dir).messages()]
    assert not list((data_dir / "mail").glob(".*"))  # no partial file left behind


def test_mercato_mail_lists_number_recipient_subject_and_time(data_dir: Path) -> None:
    with sink_running(data_dir, free_port()) as sink:
        send(sink, letter("Welcome to Mercato"))
        # A blind copy is in the envelope only: the list shows every recipient.
        send(sink, letter("Your order shipped"), to=["ada@example.com", "audit@example.com"])
    code, output = mercato("mail", "--data-dir", str(data_dir))
    assert code == 0, output
    header, first, second = (columns(line) for line in output.splitlines())
    assert header == ["#", "received (UTC)", "to", "subject"]
    received = Mailbox.of(data_dir).message(1).received_at.strftime("%Y-%m-%d %H:%M:%S")
    assert first == ["1", received, "ada@example.com", "Welcome to Mercato"]
    assert second[0] == "2"
    assert second[2:] == ["ada@example.com, audit@example.com", "Your order shipped"]


def test_mercato_mail_show_prints_one_message(data_dir: Path) -> None:
    with sink_running(data_dir, free_port()) as sink:
        send(sink, letter("First"))
        send(sink, letter("Second", to="grace@example.com", body="Your cart is waiting."))
    code, output = mercato("mail", "show", "2", "--data-dir", str(data_dir))
    assert code == 0, output
    assert "Subject: Second" in output
    assert "To: grace@example.com" in output
    assert "Delivered to: grace@example.com" in output
    assert output.rstrip().endswith("Your cart is waiting.")
    # The data dir may also come before the subcommand.
    code, raw = mercato("mail", "--data-dir", str(data_dir), "show", "1", "--raw")
    assert code == 0, raw
    assert raw.replace("\r\n", "\n") == Mailbox.of(data_dir).message(1).path.read_text().replace(
        "\r\n", "\n"
    )
    code, output = mercato("mail", "show", "3", "--data-dir", str(data_dir))
    assert code == 1
    assert "no message 3" in output
    assert "1 to 2" in output


def test_mail_received_before_a_restart_is_kept(data_dir: Path) -> None:
    port = free_port()
    with sink_running(data_dir, port) as sink:
        send(sink, letter("Before the restart"))
    before = Mailbox.of(data_dir).message(1).path.read_bytes()
    with sink_running(data_dir, port) as sink:
        send(sink, letter("After the restart"))
    messages = Mailbox.of(data_dir).messages()
    assert [m.subject for m in messages] == ["Before the restart", "After the restart"]
    assert messages[0].path.read_bytes() == before


def test_a_non_ascii_subject_and_an_html_alternative_round_trip(data_dir: Path) -> None:
    subject = "Bestätigung Ihrer Bestellung №42 — 12,50 €"
    text = "Grüße aus Köln!\nIhre Bestellung: 2 Espresso-Tassen."
    html = "<p>Grüße aus <b>Köln</b>!</p><p>2 Espresso-Tassen</p>"
    message = letter(subject, to="zoë@example.com", body=text)
    message.add_alternative(html, subtype="html")
    with sink_running(data_dir, free_port()) as sink:
        send(sink, message)

    stored = Mailbox.of(data_dir).message(1)
    received = stored.read()
    assert received["Subject"] == subject
    assert received["To"] == "zoë@example.com"
    plain = received.get_body(preferencelist=("plain",))
    rich = received.get_body(preferencelist=("html",))
    assert plain is not None
    assert rich is not None
    assert plain.get_content().rstrip("\n") == text
    assert rich.get_content().rstrip("\n") == html

    code, listing = mercato("mail", "--data-dir", str(data_dir))
    assert code == 0, listing
    assert columns(listing.splitlines()[1])[2:] == ["zoë@example.com", subject]
    code, shown = mercato("mail", "show", "1", "--data-dir", str(data_dir))
    assert code == 0, shown
    assert f"Subject: {subject}" in shown
    assert "text/plain" in shown
    assert "text/html" in shown
    assert shown.rstrip().endswith("2 Espresso-Tassen.")
    code, shown = mercato("mail", "show", "1", "--html", "--data-dir", str(data_dir))
    assert code == 0, shown
    assert shown.rstrip().endswith(html)


def test_mercato_mail_says_when_there_is_none(data_dir: Path) -> None:
    code, output = mercato("mail", "--data-dir", str(data_dir))
    assert code == 0
    assert output.strip() == f"no mail in {data_dir / 'mail'}"
