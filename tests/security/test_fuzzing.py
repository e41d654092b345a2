"""schemathesis against every service's OpenAPI and the gateway's merged one (issue 13 part 3).

No 5xx, no answer outside its schema, no undocumented status or content type, no leak in an
error body, and the gateway's security headers on every answer it gives.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from mercato import catalog
from tests.conftest import EngineSet
from tests.security.fuzzing import FuzzReport, examples_per_operation, fuzz
from tests.security.platform import Platform, leaks, platform_on
from tests.security.test_gateway_answers import EXPECTED

# schemathesis' own strategies trip this deprecation of hypothesis; nothing of ours does.
pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")


@pytest.fixture(scope="module")
async def fuzzed(engines: EngineSet) -> AsyncIterator[Platform]:
    """A platform of its own: the fuzzer's failed logins and odd writes touch no other test."""
    async with platform_on(engines) as running:
        yield running


async def _run(platform: Platform, name: str, *, gateway: bool = False) -> FuzzReport:
    client = platform.client(name)
    document = (await client.get("/openapi.json")).json()
    identities = {"customer": platform.callers.ada, "admin": platform.callers.root}

    def inspect(answer: httpx.Response) -> list[str]:
        found = leaks(answer, platform.internal_hosts)
        if gateway:
            found += [h for h, v in EXPECTED.items() if answer.headers.get(h) != v]
        return found

    report = await asyncio.to_thread(
        fuzz,
        document,
        str(client.base_url).rstrip("/"),
        identities,
        examples=examples_per_operation(),
        inspect=inspect,
    )
    # The figures `make fuzz` prints (pytest -s) for docs/RESILIENCE.md.
    print(
        f"\nfuzzed {name}: {report.operations} operations, {report.requests} requests, "
        f"{len(report.findings)} findings"
    )
    return report


def _public_services() -> list[str]:
    return [s.name for s in catalog.SERVICES.values() if s.is_public]


@pytest.mark.parametrize("service", _public_services())
async def test_fuzzing_a_service_finds_nothing(fuzzed: Platform, service: str):
    report = await _run(fuzzed, service)
    assert report.operations == sum(1 for r in fuzzed.routes if r.service == service)
    assert report.requests >= report.operations
    assert sorted(report.findings) == [], "\n\n".join(report.findings.values())


async def test_fuzzing_through_the_gateway_finds_nothing(fuzzed: Platform):
    report = await _run(fuzzed, "gateway", gateway=True)
    expected = sum(1 for r in fuzzed.routes if r.through_gateway)
    assert report.operations == expected
    assert sorted(report.findings) == [], "\n\n".join(report.findings.values())
