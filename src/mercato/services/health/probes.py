"""How health asks one target whether it works: HTTP, PostgreSQL's startup, SMTP's greeting.

Each probe answers ``ok`` or ``degraded`` when the target answered, and raises when it did
not (refused, reset, garbage); the caller bounds it with the probe timeout, so a frozen
target that accepts a connection and never answers is down as well.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import Awaitable, Callable
from enum import StrEnum
from urllib.parse import urlsplit

import aiohttp


class State(StrEnum):
    """What a target's last probe found."""

    ok = "ok"
    degraded = "degraded"
    down = "down"


class ProbeFailed(RuntimeError):
    """The target did not answer in a way that proves it runs."""


Probe = Callable[[], Awaitable[State]]
# The chassis' pooled session, created inside the event loop on first use.
Session = Callable[[], aiohttp.ClientSession]

# PostgreSQL protocol 3.0; the startup packet asks for no database a service owns.
_PROTOCOL_3 = 196608
_PROBE_USER = b"mercato_health"
# SQLSTATE 57P03 cannot_connect_now: starting up, shutting down, in recovery.
_CANNOT_CONNECT_NOW = b"57P03"


def service_ready(session: Session, base_url: str) -> Probe:
    """A service's ``/ready``: 200 is ok, any other answer degraded (a dependency fails)."""
    url = base_url.rstrip("/") + "/ready"

    async def probe() -> State:
        async with session().get(url, allow_redirects=False) as reply:
            await reply.read()
            return State.ok if reply.status == 200 else State.degraded

    return probe


def engine_probe(session: Session, address: str) -> Probe:
    """The probe an engine address's scheme asks for (see the settings)."""
    parts = urlsplit(address)
    if parts.scheme in {"http", "https"}:
        return _http_health(session, address)
    if parts.hostname is None or parts.port is None:
        raise ValueError(f"engine address {address!r} needs a host and a port")
    host, port = parts.hostname, parts.port
    if parts.scheme in {"postgresql", "postgres"}:
        return lambda: postgres_accepts(host, port)
    if parts.scheme == "nats":
        return lambda: nats_greets(host, port)
    if parts.scheme == "smtp":
        return lambda: smtp_greets(host, port)
    raise ValueError(f"engine address {address!r}: no probe for scheme {parts.scheme!r}")


def _http_health(session: Session, url: str) -> Probe:
    """An engine's HTTP health endpoint: below 500 is ok (S3 answers 403 to strangers)."""

    async def probe() -> State:
        async with session().get(url, allow_redirects=False) as reply:
            await reply.read()
            return State.ok if reply.status < 500 else State.degraded

    return probe


async def postgres_accepts(host: str, port: int) -> State:
    """PostgreSQL's answer to a startup packet, read as ``pg_isready`` reads it.

    An authentication request, or any refusal but "cannot connect now", means the
    server accepts connections; the probe hangs up before authenticating.
    """
    reader, writer = await asyncio.open_connection(host, port)
    try:
        params = b"user\x00" + _PROBE_USER + b"\x00database\x00postgres\x00\x00"
        writer.write(struct.pack("!II", 8 + len(params), _PROTOCOL_3) + params)
        await writer.drain()
        kind = await reader.readexactly(1)
        if kind == b"R":
            return State.ok
        if kind != b"E":
            raise ProbeFailed(f"PostgreSQL answered the startup with message {kind!r}")
        (length,) = struct.unpack("!I", await reader.readexactly(4))
        fields = await reader.readexactly(length - 4)
        return State.degraded if b"C" + _CANNOT_CONNECT_NOW in fields else State.ok
    finally:
        await _hang_up(writer)


async def nats_greets(host: str, port: int) -> State:
    """A NATS server's ``INFO`` line, which it sends to every client that connects."""
    greeting = await _greeting(host, port)
    if not greeting.startswith(b"INFO "):
        raise ProbeFailed(f"not a NATS greeting: {greeting[:40]!r}")
    return State.ok


async def smtp_greets(host: str, port: int) -> State:
    """An SMTP server's greeting: 220 is ok, a 4xx or 5xx greeting (busy, refusing) degraded."""
    greeting = await _greeting(host, port, farewell=b"QUIT\r\n")
    code = greeting[:3]
    if not code.isdigit():
        raise ProbeFailed(f"not an SMTP greeting: {greeting[:40]!r}")
    return State.ok if code == b"220" else State.degraded


async def _greeting(host: str, port: int, *, farewell: bytes = b"") -> bytes:
    """The first line a server sends on connecting (NATS, SMTP greet first)."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        greeting = await reader.readline()
        if farewell:
            with contextlib.suppress(OSError):
                writer.write(farewell)
                await writer.drain()
        return greeting
    finally:
        await _hang_up(writer)


async def _hang_up(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
