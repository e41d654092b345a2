"""Per-client rate limiting with token buckets.

Each gateway replica keeps its own buckets, so with N replicas a client gets up to N
times the rate; the edge (ALB/WAF) is the place for a global limit. ADR 0005 says why.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable


class RateLimiter:
    """Token buckets keyed by client, the least recently seen evicted past a cap."""

    def __init__(
        self,
        *,
        rate: float,
        burst: int,
        max_clients: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._max_clients = max_clients
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    @property
    def enabled(self) -> bool:
        """False when the rate is zero."""
        return self._rate > 0

    def acquire(self, client: str) -> float:
        """Takes one token; returns 0 when allowed, else seconds until a token is due."""
        if not self.enabled:
            return 0.0
        now = self._clock()
        tokens, updated = self._buckets.pop(client, (self._burst, now))
        tokens = min(self._burst, tokens + (now - updated) * self._rate)
        wait = 0.0
        if tokens >= 1.0:
            tokens -= 1.0
        else:
            wait = (1.0 - tokens) / self._rate
        self._buckets[client] = (tokens, now)
        while len(self._buckets) > self._max_clients:
            self._buckets.popitem(last=False)
        return wait

    @staticmethod
    def retry_after(wait: float) -> int:
        """Seconds for a Retry-After header (at least one)."""
        return max(1, math.ceil(wait))
