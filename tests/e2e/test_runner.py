"""`mercato up` end to end: the real runner in a subprocess, in a temporary data dir.

The full platform is started once for the module and checked from several angles;
the lifecycle test at the end stops it, checks nothing is left, and starts it again
on the same data dir. Waits poll with generous deadlines: nothing here is timed.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from mercato import catalog
from mercato.runner import plan
from mercato.runner import state as statefile
from mercato.runner.engines import Nats, Postgres, free_port
from tests.e2e.support import (
    PASSWORD,
    POSTGRES_HOME,
    STOP_DEADLINE,
    RunningPlatform,
    assert_gone,
    eventually,
    free_offset,
    jwt_claims,
    login,
    login_as_new_customer,
    mercato,
    new_data_dir,
    processes_mentioning,
    ready,
    runner_env,
)

pytestmark = pytest.mark.e2e

# -- the full platform, shared by the module ----------------------------------------


@pytest.fixture(scope="module")
def platform() -> Iterator[RunningPlatform]:
    """Every catalog service, started once (auth reloads keys every second here)."""
    running = RunningPlatform(
        new_data_dir(),
        free_offset(),
        env=runner_env(MERCATO_KEY_RELOAD_SECONDS="1"),
    ).start()
    try:
        running.wait_running()
        yield running
    finally:
        running.kill()
        shutil.rmtree(running.data_dir.parent, ignore_errors=True)


def test_up_starts_every_service_and_the_engines_they_need(platform: RunningPlatform) -> None:
    state = platform.wait_running()
    assert [s.name for s in state.services] == plan.start_order(catalog.names())
    assert all(s.state == "ready" and statefile.pid_alive(s.pid) for s in state.services)
    assert [e.name for e in state.engines] == plan.engines_needed(catalog.names())
    assert all(e.state == "running" and statefile.pid_alive(e.pid) for e in state.engines)
    gateway = state.service("gateway")
    assert gateway is not None
    assert gateway.url == f"http://127.0.0.1:{8080 + platform.offset}"
    for engine in state.engines:
        assert "***" in engine.url or "@" not in engine.url  # no password in the state file


def test_every_service_answers_health_and_ready(platform: RunningPlatform) -> None:
    for service in catalog.names():
        url = platform.url(service)
        assert httpx.get(f"{url}/health", timeout=5).status_code == 200
        assert httpx.get(f"{url}/ready", timeout=5).status_code == 200


def test_every_process_logs_to_its_own_file(platform: RunningPlatform) -> None:
    logs = platform.data_dir / "logs"
    for name in [*catalog.names(), *plan.engines_needed(catalog.names())]:
        assert (logs / f"{name}.log").stat().st_size > 0, name
    # ...and to the terminal, each line prefixed with the process name.
    output = platform.output.read_text() if platform.output else ""
    assert any(line.startswith("auth ") and "|" in line for line in output.splitlines())


def test_status_shows_every_service_ready(platform: RunningPlatform) -> None:
    result = mercato("status", "--data-dir", str(platform.data_dir))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Mercato is running" in result.stdout
    for name in catalog.names():
        assert name in result.stdout


def test_a_second_runner_on_the_same_data_dir_is_refused(platform: RunningPlatform) -> None:
    result = mercato(
        "up", "--data-dir", str(platform.data_dir), "--port-offset", str(free_offset())
    )
    assert result.returncode == 1
    assert "already runs" in result.stdout
    assert platform.wait_running().pid == platform.pid


def test_a_killed_service_is_restarted_and_counted(platform: RunningPlatform) -> None:
    before = platform.wait_running().service("user")
    assert before is not None
    assert before.pid is not None
    os.kill(before.pid, signal.SIGKILL)

    def restarted() -> statefile.ServiceState | None:
        state = platform.state()
        entry = state.service("user") if state else None
        if entry and entry.restarts == 1 and entry.state == "ready" and entry.pid != before.pid:
            return entry
        return None

    after = eventually(restarted, what="user to be restarted", deadline=90)
    assert statefile.pid_alive(after.pid)
    assert ready(after.url)
    assert "started user again (restart 1" in (platform.output_tail(400))


def test_admin_create_while_the_platform_runs(platform: RunningPlatform) -> None:
    email = f"admin-{uuid.uuid4().hex[:8]}@example.com"
    result = mercato(
        "admin", "create", "--email", email, "--password", PASSWORD,
        "--data-dir", str(platform.data_dir),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert email in result.stdout
    assert "admin" in result.stdout
    reply = login(platform.url("gateway"), email)
    assert reply.status_code == 200, reply.text
    assert "admin" in jwt_claims(reply.json()["access_token"])["roles"]


def test_keys_rotate_changes_the_kid_auth_publishes_first(platform: RunningPlatform) -> None:
    jwks_url = f"{platform.url('auth')}/api/v1/auth/jwks.json"
    before = httpx.get(jwks_url, timeout=5).json()["keys"][0]["kid"]
    result = mercato("keys", "rotate", "--data-dir", str(platform.data_dir))
    assert result.returncode == 0, result.stdout + result.stderr
    new_kid = result.stdout.split()[-1]
    assert new_kid != before

    def published() -> list[str] | None:
        kids = [k["kid"] for k in httpx.get(jwks_url, timeout=5).json()["keys"]]
        return kids if kids and kids[0] == new_kid else None

    kids = eventually(published, what="auth to publish the new key", deadline=60)
    assert kids[1] == before  # the previous key stays published
    token = login_as_new_customer(platform.url("gateway"))[0]
    assert jwt_header(token)["kid"] == new_kid


def jwt_header(token: str) -> dict[str, Any]:
    header = token.split(".")[0]
    return dict(json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4))))


def test_sigterm_stops_everything_and_a_restart_keeps_the_data(
    platform: RunningPlatform,
) -> None:
    gateway = platform.url("gateway")
    access, refresh, email = login_as_new_customer(gateway)

    def profile_exists() -> bool | None:
        reply = httpx.get(
            f"{gateway}/api/v1/users/me", headers={"Authorization": f"Bearer {access}"}, timeout=5
        )
        return True if reply.status_code == 200 else None

    eventually(profile_exists, what="the profile made from user.registered")

    assert platform.stop() == 0
    assert not statefile.state_path(platform.data_dir).exists()
    stopped = mercato("status", "--data-dir", str(platform.data_dir))
    assert stopped.returncode == 1
    assert "not running" in stopped.stdout

    admin_email = f"admin-{uuid.uuid4().hex[:8]}@example.com"
    created = mercato(
        "admin", "create", "--email", admin_email, "--password", PASSWORD,
        "--data-dir", str(platform.data_dir),
    )  # fmt: skip
    assert created.returncode == 0, created.stdout + created.stderr
    assert processes_mentioning(platform.data_dir) == []  # its PostgreSQL is stopped again

    again = RunningPlatform(platform.data_dir, free_offset(), env=platform.env).start()
    try:
        again.wait_running()
        gateway = again.url("gateway")
        assert login(gateway, email).status_code == 200
        assert login(gateway, admin_email).status_code == 200
        # Tokens issued before the restart still work: same keys, same sessions.
        me = httpx.get(
            f"{gateway}/api/v1/users/me", headers={"Authorization": f"Bearer {access}"}, timeout=5
        )
        assert me.status_code == 200, me.text
        renewed = httpx.post(
            f"{gateway}/api/v1/auth/refresh", json={"refresh_token": refresh}, timeout=30
        )
        assert renewed.status_code == 200, renewed.text
        assert again.stop() == 0
    finally:
        again.kill()


# -- a subset, and a runner that dies without cleaning up -----------------------------


def test_a_subset_starts_only_what_it_needs_and_a_killed_runner_takes_its_children() -> None:
    data_dir = new_data_dir()
    running = RunningPlatform(data_dir, free_offset(), services=["auth"]).start()
    try:
        state = running.wait_running()
        assert [s.name for s in state.services] == ["auth"]
        assert [e.name for e in state.engines] == ["postgres", "nats"]
        assert ready(state.services[0].url)

        # SIGKILL leaves the runner no chance to clean up: its children still die
        # (PR_SET_PDEATHSIG), and the state file it leaves is recognised as stale.
        children = running.descendants()
        assert running.process is not None
        running.process.kill()
        running.process.wait()
        assert_gone(children, data_dir)
        stale = mercato("status", "--data-dir", str(data_dir))
        assert stale.returncode == 1
        assert "gone" in stale.stdout

        # The next runner replaces the stale file and stops cleanly.
        running = RunningPlatform(data_dir, free_offset(), services=["auth"]).start()
        running.wait_running()
        assert running.stop() == 0
    finally:
        running.kill()
        shutil.rmtree(data_dir.parent, ignore_errors=True)


def _engine_running_again(running: RunningPlatform, name: str, old_pid: int) -> int | None:
    """The engine's new pid once the runner has it running as another process."""
    if running.process is not None and running.process.poll() is not None:
        raise AssertionError(f"the runner exited:\n{running.output_tail()}")
    state = running.state()
    engine = state.engine(name) if state else None
    if engine is None or engine.pid in (None, old_pid) or engine.state != "running":
        return None
    return engine.pid


def test_an_engine_that_dies_is_started_again_and_the_services_keep_running() -> None:
    data_dir = new_data_dir()
    running = RunningPlatform(data_dir, free_offset(), services=["auth"]).start()
    try:
        state = running.wait_running()
        nats, auth = state.engine("nats"), state.service("auth")
        assert nats is not None
        assert nats.pid is not None
        assert auth is not None
        killed = nats.pid
        os.kill(killed, signal.SIGKILL)

        eventually(
            lambda: _engine_running_again(running, "nats", killed),
            what="nats running again",
            deadline=STOP_DEADLINE,
        )
        assert "nats exited" in running.output_tail(100)
        after = running.state()
        assert after is not None
        assert after.state == "running"
        auth_after = after.service("auth")
        assert auth_after is not None
        assert auth_after.pid == auth.pid  # the service was not restarted
        eventually(
            lambda: True if ready(running.url("auth")) else None,
            what="auth ready with the new nats",
        )
        assert running.stop() == 0
    finally:
        running.kill()
        shutil.rmtree(data_dir.parent, ignore_errors=True)


def test_an_engine_that_keeps_dying_stops_the_platform() -> None:
    data_dir = new_data_dir()
    running = RunningPlatform(data_dir, free_offset(), services=["auth"]).start()
    try:
        nats = running.wait_running().engine("nats")
        assert nats is not None
        assert nats.pid is not None
        children = running.descendants()
        pid: int | None = nats.pid
        assert running.process is not None
        # Each death within a minute of its start counts; the fifth in a row stops it all.
        for _ in range(6):
            assert pid is not None
            children += [p for p in running.descendants() if p not in children]
            os.kill(pid, signal.SIGKILL)

            def again_or_gone(old: int = pid) -> int | None:
                if running.process is not None and running.process.poll() is not None:
                    return -1
                with contextlib.suppress(AssertionError):  # it exited in between
                    return _engine_running_again(running, "nats", old)
                return -1

            pid = eventually(
                again_or_gone, what="nats running again, or the runner gone", deadline=STOP_DEADLINE
            )
            if pid == -1:
                break
        assert running.process.wait(STOP_DEADLINE) == 1
        assert_gone(children, data_dir)
        assert "nats failed 5 times in a row" in running.output_tail(200)
        assert not statefile.state_path(data_dir).exists()
    finally:
        running.kill()
        shutil.rmtree(data_dir.parent, ignore_errors=True)


def test_external_engines_are_used_instead_of_embedded_ones() -> None:
    base = new_data_dir().parent
    postgres = Postgres(
        base / "external-pg", port=free_port(), password="external-password", home=POSTGRES_HOME
    )
    nats = Nats(base / "external-nats", port=free_port(), monitor_port=free_port())
    engines = [(postgres, postgres.start(base / "pg.log")), (nats, nats.start(base / "nats.log"))]
    running: RunningPlatform | None = None
    try:
        for engine, process in engines:
            engine.wait_ready(process)
        env = runner_env(MERCATO_DATABASE_URL=postgres.url, MERCATO_NATS_URL=nats.url)
        running = RunningPlatform(base / "data", free_offset(), services=["auth"], env=env)
        state = running.start().wait_running()
        assert [(e.name, e.external, e.pid) for e in state.engines] == [
            ("postgres", True, None),
            ("nats", True, None),
        ]
        assert "external-password" not in statefile.state_path(running.data_dir).read_text()
        names = {p.name() for p in running.descendants()}
        assert not names & {"postgres", "nats-server"}

        email = f"admin-{uuid.uuid4().hex[:8]}@example.com"
        created = mercato(
            "admin", "create", "--email", email, "--password", PASSWORD,
            "--data-dir", str(running.data_dir), env=env,
        )  # fmt: skip
        assert created.returncode == 0, created.stdout + created.stderr
        assert login(running.url("auth"), email).status_code == 200
        assert running.stop() == 0
    finally:
        if running is not None:
            running.kill()
        for engine, process in engines:
            engine.stop(process)
        shutil.rmtree(base, ignore_errors=True)


def test_status_says_when_nothing_runs() -> None:
    data_dir = new_data_dir()
    try:
        result = mercato("status", "--data-dir", str(data_dir))
        assert result.returncode == 1
        assert "not running" in result.stdout
    finally:
        shutil.rmtree(data_dir.parent, ignore_errors=True)
