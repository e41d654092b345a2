"""The runner's SMTP sink: started for a service that sends mail, wired into its settings.

No catalog service sends mail yet (notification will): the test gives auth the flag and
runs the real runner in this process, so the patched catalog is the one it plans from.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import smtplib
from dataclasses import replace
from email.message import EmailMessage

import pytest

from mercato import catalog
from mercato.runner import state as statefile
from mercato.runner.engines import EnginePorts
from mercato.runner.mailbox import Mailbox
from mercato.runner.supervisor import Runner, RunOptions, run
from tests.e2e.support import free_offset, new_data_dir, runner_env

pytestmark = pytest.mark.e2e


def send_welcome(host: str, port: int) -> None:
    message = EmailMessage()
    message["From"] = "shop@mercato.example"
    message["To"] = "ada@example.com"
    message["Subject"] = "Welcome to Mercato"
    message.set_content("Hello Ada.")
    with smtplib.SMTP(host, port, timeout=10) as client:
        client.send_message(message)


def test_the_runner_starts_the_sink_for_a_service_that_sends_mail(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(catalog.SERVICES, "auth", replace(catalog.get("auth"), smtp=True))
    data_dir = new_data_dir()
    offset = free_offset()
    seen: dict[str, object] = {}

    async def mail_then_stop(runner: Runner) -> None:
        env = runner.services["auth"].env
        seen["env"] = (env["MERCATO_SMTP_HOST"], env["MERCATO_SMTP_PORT"])
        seen["state"] = statefile.read(runner.data_dir)
        await asyncio.to_thread(
            send_welcome, env["MERCATO_SMTP_HOST"], int(env["MERCATO_SMTP_PORT"])
        )
        os.kill(os.getpid(), signal.SIGTERM)  # as Ctrl-C would: the runner stops everything

    options = RunOptions(
        data_dir=data_dir,
        port_offset=offset,
        services=["auth"],
        hooks=[mail_then_stop],
        environ=runner_env(),
    )
    try:
        assert run(options) == 0
        port = EnginePorts().smtp + offset
        assert seen["env"] == ("127.0.0.1", str(port))
        state = seen["state"]
        assert isinstance(state, statefile.RunnerState)
        sink = state.engine("smtp")
        assert sink is not None
        assert (sink.state, sink.url, sink.port) == ("running", f"smtp://127.0.0.1:{port}", port)
        assert [m.subject for m in Mailbox.of(data_dir).messages()] == ["Welcome to Mercato"]
        assert "stored" in (data_dir / "logs" / "smtp.log").read_text()
    finally:
        shutil.rmtree(data_dir.parent, ignore_errors=True)
