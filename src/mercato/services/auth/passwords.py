"""Password hashing with argon2id, off the event loop and bounded in concurrency."""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError


class Passwords:
    """Hashes and verifies passwords in worker threads, a few at a time.

    Each hash holds ``memory_kib`` of memory for tens of milliseconds; the semaphore
    keeps a burst of logins from exhausting memory or starving the event loop.
    """

    def __init__(
        self, *, time_cost: int, memory_kib: int, parallelism: int, max_concurrent: int
    ) -> None:
        self._hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism
        )
        self._slots = asyncio.Semaphore(max_concurrent)
        # Verified against when the account does not exist, so both paths cost the same.
        self._decoy = self._hasher.hash("mercato-decoy-password")

    async def hash(self, password: str) -> str:
        """The argon2id hash of ``password``."""
        async with self._slots:
            return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """True when ``password`` matches; spends the same time when there is no hash."""
        async with self._slots:
            return await asyncio.to_thread(
                self._verify, password_hash or self._decoy, password
            ) and (password_hash is not None)

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        """True when the hash was made with other parameters than today's."""
        return self._hasher.check_needs_rehash(password_hash)
