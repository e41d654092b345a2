"""One platform for the whole security suite: every service started once, attacked by all."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.conftest import EngineSet
from tests.security.platform import Platform, platform_on


@pytest.fixture(scope="session")
async def platform(engines: EngineSet) -> AsyncIterator[Platform]:
    """Every catalog service behind the gateway, on the session's engines."""
    async with platform_on(engines) as running:
        yield running


@pytest.fixture(autouse=True)
def no_leaks_in_error_answers(request: pytest.FixtureRequest) -> object:
    """Fails a test whose error answers gave away a stack trace, SQL or an internal host."""
    yield
    if "platform" in request.fixturenames:
        platform: Platform = request.getfixturevalue("platform")
        leaked, platform.leaked = platform.leaked, []
        assert not leaked, "error answers leaked internals:\n" + "\n".join(leaked)
