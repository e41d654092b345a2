"""Each engine probe against the real engine: PostgreSQL, NATS, S3 and an SMTP server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from urllib.parse import urlsplit

import aiohttp
import pytest
from aiosmtpd.controller import Controller

from mercato.runner.engines import free_port
from mercato.services.health.probes import (
    ProbeFailed,
    State,
    engine_probe,
    nats_greets,
    postgres_accepts,
    smtp_greets,
)
from tests.conftest import EngineSet
from tests.integration.health.conftest import engine_addresses


class Discard:
    """An SMTP handler that accepts and drops every message."""

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        return "250 OK"


@pytest.fixture
def smtp_server() -> Iterator[Controller]:
    controller = Controller(Discard(), hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield controller
    finally:
        controller.stop()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as opened:
        yield opened


def host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    assert parts.hostname is not None
    assert parts.port is not None
    return parts.hostname, parts.port


async def test_every_engine_the_runner_names_answers_ok(
    engines: EngineSet, session: aiohttp.ClientSession
) -> None:
    addresses = engine_addresses(engines)
    assert set(addresses) == {"postgres", "nats", "s3"}
    for name, address in addresses.items():
        assert await engine_probe(lambda: session, address)() is State.ok, name


async def test_postgresql_answers_the_startup_without_being_given_a_password(
    engines: EngineSet,
) -> None:
    assert await postgres_accepts(*host_port(engines.postgres_url)) is State.ok


async def test_an_smtp_server_greets_and_is_down_once_it_stops() -> None:
    port = free_port()
    server = Controller(Discard(), hostname="127.0.0.1", port=port)
    server.start()
    try:
        assert await smtp_greets("127.0.0.1", port) is State.ok
    finally:
        server.stop()
    with pytest.raises(ConnectionRefusedError):
        await smtp_greets("127.0.0.1", port)


async def test_a_server_of_another_kind_is_not_taken_for_the_engine(
    engines: EngineSet, smtp_server: Controller
) -> None:
    with pytest.raises(ProbeFailed, match="not an SMTP greeting"):
        await smtp_greets(*host_port(engines.nats_url))
    with pytest.raises(ProbeFailed, match="not a NATS greeting"):
        await nats_greets("127.0.0.1", smtp_server.port)


async def test_nothing_listening_is_a_refused_probe() -> None:
    with pytest.raises(ConnectionRefusedError):
        await postgres_accepts("127.0.0.1", free_port())
