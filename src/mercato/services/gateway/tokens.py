"""Verified principals cached by token, so a client's requests cost one signature check.

Verifying an EdDSA access token costs more than the rest of the gateway's check. A token
that verified once stays valid until its ``exp``; the cache keeps its principal until then,
but at most ``max_age`` seconds, so a signing key withdrawn from auth's JWKS stops being
honoured within the JWKS cache's own refresh time plus ``max_age``. Only tokens that
verified are kept: a forged, expired or unknown-key token is checked every time.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from mercato.platform.security import Principal, TokenVerifier

DEFAULT_MAX_AGE_SECONDS = 30.0
DEFAULT_MAX_ENTRIES = 10_000


class CachedTokenVerifier:
    """A :class:`TokenVerifier` in front of which verified principals are remembered."""

    def __init__(
        self,
        verifier: TokenVerifier,
        *,
        max_age: float = DEFAULT_MAX_AGE_SECONDS,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._verifier = verifier
        self._max_age = max_age
        self._max_entries = max_entries
        self._clock = clock
        self._principals: dict[str, tuple[Principal, float]] = {}

    async def verify(self, token: str) -> Principal:
        """The principal of a valid token; Unauthorized otherwise (as TokenVerifier.verify)."""
        now = self._clock()
        cached = self._principals.get(token)
        if cached is not None:
            principal, until = cached
            if now < until:
                return principal
            del self._principals[token]
        principal = await self._verifier.verify(token)
        expires = principal.claims.get("exp")
        if isinstance(expires, int | float) and self._max_age > 0:
            until = min(float(expires), now + self._max_age)
            if until > now:
                if len(self._principals) >= self._max_entries:
                    # The oldest entry goes first (dicts keep insertion order).
                    del self._principals[next(iter(self._principals))]
                self._principals[token] = (principal, until)
        return principal
