"""The audit trail's hash chain: canonical content, the hash of a link, and its verification.

Pure functions, so the rules a record is checked by are the rules it was written by.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson


@dataclass(frozen=True)
class Link:
    """What the chain covers of one audit record, and the hash it was stored with."""

    seq: int
    id: uuid.UUID
    at: datetime
    actor: str | None
    action: str
    subject: str
    detail: dict[str, Any]
    hash: str


@dataclass(frozen=True)
class Break:
    """The first record whose hash does not follow from the records before it."""

    seq: int
    id: uuid.UUID | None
    reason: str


def canonical(link: Link) -> bytes:
    """The record's content as canonical JSON: sorted keys, UTC microsecond times, no spaces."""
    return orjson.dumps(
        {
            "seq": link.seq,
            "id": str(link.id),
            "at": link.at.astimezone(UTC).isoformat(timespec="microseconds"),
            "actor": link.actor,
            "action": link.action,
            "subject": link.subject,
            "detail": link.detail,
        },
        option=orjson.OPT_SORT_KEYS,
    )


def record_hash(previous: str, link: Link) -> str:
    """SHA-256 over the previous record's hash and this record's canonical content."""
    return hashlib.sha256(previous.encode() + b"\n" + canonical(link)).hexdigest()


@dataclass
class Verifier:
    """Walks the chain in ``seq`` order, batch by batch, and stops at the first break."""

    previous: str
    expected_seq: int = 1
    checked: int = 0
    broken: Break | None = None

    def feed(self, links: Iterable[Link]) -> bool:
        """Checks the next records; False once the chain is broken."""
        for link in links:
            if self.broken is not None:
                return False
            if link.seq != self.expected_seq:
                self.broken = Break(
                    link.seq, link.id, f"records {self.expected_seq}..{link.seq - 1} are missing"
                )
                return False
            if record_hash(self.previous, link) != link.hash:
                self.broken = Break(link.seq, link.id, "the record does not match its hash")
                return False
            self.previous = link.hash
            self.expected_seq += 1
            self.checked += 1
        return self.broken is None

    def finish(self, *, length: int, head_hash: str) -> Break | None:
        """Compares the end of the walk with the chain's head; the first break, if any."""
        if self.broken is None and (self.checked != length or self.previous != head_hash):
            self.broken = Break(
                self.expected_seq,
                None,
                f"the trail ends after {self.checked} records but its head counts {length}",
            )
        return self.broken
