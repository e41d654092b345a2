"""`mercato up` from a private (0700) directory, as a clone under /root would be.

As root (CI runs as root) PostgreSQL runs as the system user ``mercato`` from the home
named by MERCATO_POSTGRES_HOME (the tests' own, see tests/e2e/support.py), and no mode
changes anywhere the runner did not create. Not as root, the same run keeps the cluster
in place; the assertions say which case ran.
"""

from __future__ import annotations

import getpass
import os
import shutil
import stat
import sys
import uuid
from pathlib import Path

import psutil
import pytest

from mercato.runner.engines import POSTGRES_SYSTEM_USER, wheel_pginstall
from tests.e2e.support import (
    PASSWORD,
    POSTGRES_HOME,
    RunningPlatform,
    free_offset,
    login,
    login_as_new_customer,
    mercato,
    new_data_dir,
)
from tests.filemodes import assert_unchanged, modes

pytestmark = pytest.mark.e2e

ROOT = os.geteuid() == 0
NOT_ROOT = f"not root (uid {os.geteuid()}): PostgreSQL runs as {getpass.getuser()}, in place"


def test_the_platform_runs_from_a_private_directory_and_keeps_its_data() -> None:
    data_dir = new_data_dir()
    private = data_dir.parent
    assert stat.S_IMODE(private.stat().st_mode) == 0o700
    before = modes(private, wheel_pginstall(), around=(POSTGRES_HOME, data_dir, Path(sys.prefix)))
    running = RunningPlatform(data_dir, free_offset(), services=["auth"]).start()
    try:
        state = running.wait_running()
        postgres = state.engine("postgres")
        assert postgres is not None
        assert postgres.pid is not None
        user = psutil.Process(postgres.pid).username()
        status = mercato("status", "--data-dir", str(data_dir))
        assert status.returncode == 0, status.stdout + status.stderr
        email = login_as_new_customer(running.url("auth"))[2]
        assert running.stop() == 0

        # Stopped: the command starts the data dir's PostgreSQL itself, through the link.
        admin = f"admin-{uuid.uuid4().hex[:8]}@example.com"
        created = mercato(
            "admin", "create", "--email", admin, "--password", PASSWORD,
            "--data-dir", str(data_dir),
        )  # fmt: skip
        assert created.returncode == 0, created.stdout + created.stderr

        running = RunningPlatform(data_dir, free_offset(), services=["auth"]).start()
        running.wait_running()
        assert login(running.url("auth"), email).status_code == 200
        assert login(running.url("auth"), admin).status_code == 200
        assert running.stop() == 0
        assert_unchanged(before)
        assert stat.S_IMODE(private.stat().st_mode) == 0o700
        if ROOT:
            assert user == POSTGRES_SYSTEM_USER
            assert (data_dir / "postgres").is_symlink()
            assert (data_dir / "postgres").resolve().is_relative_to(POSTGRES_HOME)
            assert "postgres runs as mercato" in (data_dir / "logs" / "runner.log").read_text()
        else:
            assert user == getpass.getuser(), NOT_ROOT
            assert (data_dir / "postgres" / "PG_VERSION").exists(), NOT_ROOT
    finally:
        running.kill()
        shutil.rmtree(private, ignore_errors=True)
