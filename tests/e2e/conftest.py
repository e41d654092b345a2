"""The one platform the e2e modules share: `mercato up --seed` with every service, started
once per test session by the runner in a subprocess (its own data dir and port offset).

Modules that stop, restart or break a platform (test_runner, test_identity_flow) start
their own; everything else uses ``shop``. Tests on the shared platform make their own
customers and never assume they are alone: a product whose stock a test counts exactly is
one that no other test buys.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from mercato.runner import seed
from tests.e2e.support import RunningPlatform, eventually, free_offset, new_data_dir


@pytest.fixture(scope="session")
def shop() -> Iterator[RunningPlatform]:
    """Every catalog service with the demo data, shared by the e2e modules."""
    running = RunningPlatform(new_data_dir(), free_offset(), extra_args=["--seed"]).start()
    try:
        running.wait_running()
        eventually(
            lambda: True if seed.DEMO_CUSTOMER_EMAIL in running.output_tail(400) else None,
            what="the demo data",
            deadline=180,
        )
        yield running
    finally:
        running.kill()
        shutil.rmtree(running.data_dir.parent, ignore_errors=True)


# The browser tests' fixtures (one chromium per session), shared by tests/e2e/test_web_*.py.
from tests.e2e.web import browser, tab, web  # noqa: E402, F401
