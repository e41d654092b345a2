"""HTTP probes of ``/health`` and ``/ready``, shared by the runner and ``mercato status``."""

from __future__ import annotations

import aiohttp


def new_session() -> aiohttp.ClientSession:
    """A session for probing loopback services (no proxies, no keep-alive surprises)."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0, force_close=True), trust_env=False
    )


async def status_of(session: aiohttp.ClientSession, url: str, timeout: float = 1.0) -> int | None:
    """The HTTP status ``url`` answers with, or None when it does not answer."""
    try:
        async with session.get(url, timeout=aiohttp.ClientTimeout(total=timeout)) as reply:
            await reply.read()
            return reply.status
    except (TimeoutError, aiohttp.ClientError, OSError):
        return None
