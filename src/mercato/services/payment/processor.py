"""The card processor behind a small interface, and the sandbox that implements it.

The sandbox honours the test cards of API.md and keeps its state in its own tables
(a real processor keeps it on its side). Charges and refunds are idempotent by the
shop's charge and refund ids, so the recovery job may repeat any call safely.
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mercato.platform.db import utcnow
from mercato.services.payment.cards import CardDetails
from mercato.services.payment.models import SandboxCard, SandboxCharge, SandboxRefund

SUCCEEDED, DECLINED = "succeeded", "declined"

# Test card numbers (API.md) and what the sandbox does with them; any other valid
# number is charged successfully.
SANDBOX_CARDS = {
    "4000000000000002": "decline:card_declined",
    "4000000000009995": "decline:insufficient_funds",
    "4000000000000259": "slow",
}


@dataclass(frozen=True)
class ProcessorResult:
    """The processor's verdict on a charge."""

    outcome: str  # succeeded, declined
    decline_code: str | None = None


class ProcessorError(RuntimeError):
    """The processor could not handle the call (the charge's fate is unknown)."""


class CardProcessor(Protocol):
    """What the payment service needs from a card processor."""

    async def tokenize(self, card: CardDetails) -> str:
        """An opaque token standing for the card."""
        ...

    async def charge(
        self, *, charge_id: uuid.UUID, token: str, amount: int, currency: str
    ) -> ProcessorResult:
        """Charges the card once per ``charge_id``; a repeat returns the first verdict."""
        ...

    async def refund(self, *, refund_id: uuid.UUID, charge_id: uuid.UUID, amount: int) -> None:
        """Gives ``amount`` of a charge back, once per ``refund_id``."""
        ...


# What the card does, and the verdict on the charge if it was processed already: one row.
_CARD_AND_VERDICT = text(
    "SELECT (SELECT behaviour FROM sandbox_cards WHERE token = :token) AS behaviour,"
    " done.outcome, done.decline_code"
    " FROM (SELECT 1) AS one LEFT JOIN sandbox_charges AS done ON done.id = :id"
)


class SandboxProcessor:
    """A processor for development and tests, with the behaviours of the test cards."""

    def __init__(
        self, sessionmaker: async_sessionmaker[AsyncSession], *, slow_seconds: float = 10.0
    ) -> None:
        self._sessionmaker = sessionmaker
        self._slow_seconds = slow_seconds

    async def tokenize(self, card: CardDetails) -> str:
        """Keeps what the card does under a fresh token; the number itself is dropped."""
        token = "tok_sandbox_" + secrets.token_urlsafe(18)
        async with self._sessionmaker() as session, session.begin():
            session.add(
                SandboxCard(
                    token=token,
                    behaviour=SANDBOX_CARDS.get(card.number, "succeed"),
                    created_at=utcnow(),
                )
            )
        return token

    async def charge(
        self, *, charge_id: uuid.UUID, token: str, amount: int, currency: str
    ) -> ProcessorResult:
        """Charges once per ``charge_id``; the slow card answers after a delay."""
        async with self._sessionmaker() as session:
            query = await session.execute(_CARD_AND_VERDICT, {"token": token, "id": charge_id})
            behaviour, outcome, decline_code = query.one()
        if outcome is not None:
            return ProcessorResult(outcome, decline_code)
        if behaviour is None:
            result = ProcessorResult(DECLINED, "invalid_token")
        elif behaviour.startswith("decline:"):
            result = ProcessorResult(DECLINED, behaviour.removeprefix("decline:"))
        else:
            if behaviour == "slow":
                await asyncio.sleep(self._slow_seconds)
            result = ProcessorResult(SUCCEEDED)
        async with self._sessionmaker() as session, session.begin():
            stored = (
                await session.execute(
                    insert(SandboxCharge)
                    .values(
                        id=charge_id,
                        token=token,
                        amount=amount,
                        currency=currency,
                        outcome=result.outcome,
                        decline_code=result.decline_code,
                        created_at=utcnow(),
                    )
                    .on_conflict_do_nothing(index_elements=[SandboxCharge.id])
                    .returning(SandboxCharge.outcome, SandboxCharge.decline_code)
                )
            ).first()
            if stored is None:  # a twin call stored its verdict first: that one holds
                stored = (
                    await session.execute(
                        select(SandboxCharge.outcome, SandboxCharge.decline_code).where(
                            SandboxCharge.id == charge_id
                        )
                    )
                ).one()
        return ProcessorResult(stored[0], stored[1])

    async def refund(self, *, refund_id: uuid.UUID, charge_id: uuid.UUID, amount: int) -> None:
        """Refunds once per ``refund_id``, never beyond what the charge took."""
        async with self._sessionmaker() as session, session.begin():
            charge = await session.get(SandboxCharge, charge_id, with_for_update=True)
            if charge is None or charge.outcome != SUCCEEDED:
                raise ProcessorError("the sandbox has no successful charge to refund")
            if await session.get(SandboxRefund, refund_id) is not None:
                return
            refunded = await session.scalar(
                select(func.coalesce(func.sum(SandboxRefund.amount), 0)).where(
                    SandboxRefund.charge_id == charge_id
                )
            )
            if int(refunded or 0) + amount > charge.amount:
                raise ProcessorError("the sandbox refuses to refund more than was charged")
            session.add(
                SandboxRefund(id=refund_id, charge_id=charge_id, amount=amount, created_at=utcnow())
            )
