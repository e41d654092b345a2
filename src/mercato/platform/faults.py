"""Fault injection for crash-recovery tests: a process kills itself at a named point.

A use case marks the moments where a crash matters (``await faults.point(
"order.after_reserve")``). When ``MERCATO_FAULTS`` names that point (comma-separated),
the process sends itself SIGKILL there: no cleanup, no graceful shutdown, exactly as
if the machine had lost power. Only the dev profile may arm points; the settings of
stg and prod refuse ``MERCATO_FAULTS`` (:class:`~mercato.platform.settings.ServiceSettings`).
Unarmed, a point costs one set lookup.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from collections.abc import Iterable

log = logging.getLogger("mercato.faults")

_armed: frozenset[str] = frozenset()


def parse(points: str) -> frozenset[str]:
    """The point names in a ``MERCATO_FAULTS`` value."""
    return frozenset(p.strip() for p in points.split(",") if p.strip())


def arm(points: Iterable[str]) -> None:
    """Arms ``points`` for this process (and disarms every other)."""
    global _armed
    _armed = frozenset(points)
    if _armed:
        log.warning("fault points armed: %s", ", ".join(sorted(_armed)))


def armed() -> frozenset[str]:
    """The points armed in this process."""
    return _armed


async def point(name: str) -> None:
    """Kills this process with SIGKILL if ``name`` is armed; otherwise does nothing."""
    if name not in _armed:
        return
    log.critical("fault point %s reached: killing the process", name, extra={"fault": name})
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os.kill(os.getpid(), signal.SIGKILL)
