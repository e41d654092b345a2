"""The one platform the e2e modules share: `mercato up --seed` with every service, started
once per test session by the runner in a subprocess (its own data dir and port offset).

Modules that stop, restart or break a platform (test_runner, test_identity_flow) start
their own; everything else uses ``shop``. Tests on the shared platform make their own
customers and never assume they are alone: a product whose stock a test counts exactly is
one that no other test buys.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.support import RunningPlatform, seeded_platform

# The browser tests' fixtures, shared by tests/e2e/test_web_*.py.
from tests.e2e.web import browser, tab, web  # noqa: F401


@pytest.fixture(scope="session")
def shop() -> Iterator[RunningPlatform]:
    """Every catalog service with the demo data, shared by the e2e modules."""
    with seeded_platform() as running:
        yield running
