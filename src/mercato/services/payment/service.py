"""payment's use cases: payment methods, idempotent charges, refunds, and their recovery.

A charge is written as "processing" (with its idempotency key) and committed BEFORE the
processor is asked, and settled afterwards in a second transaction. If the process dies
in between, the recovery job asks the processor again (idempotent by charge id) and
settles it. Refunds follow the same two steps, under a row lock on the charge so that
no two refunds together exceed what was charged.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import orjson

from mercato.contracts.payment import (
    ChargeSettled,
    PaymentDeclined,
    PaymentRefunded,
    PaymentSucceeded,
)
from mercato.platform import faults
from mercato.platform.db import UnitOfWork, utcnow
from mercato.platform.errors import (
    Conflict,
    IdempotencyKeyReused,
    NotFound,
    ServiceUnavailable,
    ValidationFailed,
)
from mercato.platform.metrics import Labelled
from mercato.platform.pagination import PageRequest, created_before
from mercato.platform.schemas import Money
from mercato.services.payment import repository
from mercato.services.payment.cards import CardDetails, brand_of
from mercato.services.payment.models import Charge, PaymentMethod, Refund
from mercato.services.payment.processor import SUCCEEDED, CardProcessor, ProcessorResult
from mercato.services.payment.settings import Settings

log = logging.getLogger("mercato.payment")
PROCESSING, DECLINED = "processing", "declined"
RECOVERY_BATCH = 50


@dataclass(frozen=True)
class Viewer:
    """Whose charges a caller may see: one customer's, or everyone's (``customer_id=None``)."""

    customer_id: uuid.UUID | None

    def may_see(self, charge: Charge) -> bool:
        """Tells whether the charge is the viewer's to see."""
        return self.customer_id is None or charge.customer_id == self.customer_id


@dataclass(frozen=True)
class ChargeRequest:
    """What a service asks to be charged."""

    order_id: uuid.UUID
    amount: int
    currency: str
    payment_method_id: uuid.UUID
    customer_id: uuid.UUID

    def fingerprint(self) -> str:
        """A hash of the request: the same key must come with the same request."""
        canonical = orjson.dumps(
            {
                "order_id": str(self.order_id),
                "amount": self.amount,
                "currency": self.currency,
                "payment_method_id": str(self.payment_method_id),
                "customer_id": str(self.customer_id),
            },
            option=orjson.OPT_SORT_KEYS,
        )
        return hashlib.sha256(canonical).hexdigest()


@dataclass(frozen=True)
class ChargeOutcome:
    """A charge and whether it is the replay of an earlier request with the same key."""

    charge: Charge
    replayed: bool


class ChargeNotFound(NotFound):
    """No such charge, or not the caller's."""

    slug, title = "charge-not-found", "Charge not found"


class ChargeInProgress(Conflict):
    """The first request with this key is still being processed."""

    slug, title = "charge-in-progress", "Charge in progress"


class Payments:
    """The payment use cases; each opens and commits its own unit of work."""

    def __init__(
        self,
        *,
        settings: Settings,
        unit_of_work: Callable[[], UnitOfWork],
        processor: CardProcessor,
        outcomes: Labelled | None = None,
    ) -> None:
        self._settings = settings
        self._uow = unit_of_work
        self._processor = processor
        self._outcomes = outcomes

    # -- payment methods ----------------------------------------------------

    async def add_payment_method(self, customer_id: uuid.UUID, card: CardDetails) -> PaymentMethod:
        """Tokenizes the card with the processor and keeps brand, last4 and expiry."""
        token = await self._processor.tokenize(card)
        method = PaymentMethod(
            id=uuid.uuid4(),
            customer_id=customer_id,
            brand=brand_of(card.number),
            last4=card.number[-4:],
            exp_month=card.exp_month,
            exp_year=card.exp_year,
            processor_token=token,
            created_at=utcnow(),
        )
        async with self._uow() as uow:
            uow.session.add(method)
            await uow.commit()
        return method

    async def payment_methods(
        self, customer_id: uuid.UUID, request: PageRequest
    ) -> list[PaymentMethod]:
        """The customer's payment methods, newest first (``limit + 1`` rows)."""
        async with self._uow() as uow:
            return await repository.payment_methods_page(
                uow.session,
                customer_id=customer_id,
                limit=request.limit + 1,
                after=created_before(request),
            )

    # -- charges ------------------------------------------------------------

    async def charge(self, *, principal: str, key: str, request: ChargeRequest) -> ChargeOutcome:
        """Charges once per (caller, key): replays a finished charge, 409 while in flight."""
        fingerprint = request.fingerprint()
        async with self._uow() as uow:
            if request.currency != self._settings.currency:
                existing = await repository.charge_by_key(uow.session, principal, key)
                if existing is not None:
                    return self._replay(existing, fingerprint)
                raise ValidationFailed(
                    f"Charges are in {self._settings.currency}.",
                    errors=[{"loc": ["body", "amount", "currency"], "msg": "unsupported currency"}],
                )
            charge_id = uuid.uuid4()
            # Committed as processing BEFORE the processor is asked: a crash after this
            # leaves a charge the recovery job settles.
            opened = await repository.open_charge(
                uow.session,
                id=charge_id,
                principal=principal,
                idempotency_key=key,
                request_hash=fingerprint,
                order_id=request.order_id,
                customer_id=request.customer_id,
                payment_method_id=request.payment_method_id,
                amount=request.amount,
                currency=request.currency,
                now=utcnow(),
            )
            if opened is not None and opened[1]:
                await uow.commit()
            else:
                # The key is taken (replay it), or the method is not the customer's.
                await uow.rollback()
                existing = await repository.charge_by_key(uow.session, principal, key)
                if existing is not None:
                    return self._replay(existing, fingerprint)
                if opened is None:
                    raise ValidationFailed(
                        "The payment method does not belong to the customer.",
                        errors=[
                            {"loc": ["body", "payment_method_id"], "msg": "unknown payment method"}
                        ],
                    )
                raise AssertionError("a charge key was taken, yet no charge has it")
            token = opened[0]

        await faults.point("payment.before_processor")
        try:
            result = await self._processor.charge(
                charge_id=charge_id, token=token, amount=request.amount, currency=request.currency
            )
        except Exception as exc:
            log.warning(
                "the processor failed; the recovery job will resolve the charge",
                exc_info=True,
                extra={"charge_id": str(charge_id)},
            )
            raise ServiceUnavailable(
                "The card processor did not answer; the charge will be resolved shortly."
            ) from exc
        await faults.point("payment.after_processor")
        return ChargeOutcome(await self._settle(charge_id, result), replayed=False)

    async def view_charge(self, viewer: Viewer, charge_id: uuid.UUID) -> Charge:
        """One charge the viewer may see; anything else is not found."""
        async with self._uow() as uow:
            charge = await repository.charge(uow.session, charge_id)
        if charge is None or not viewer.may_see(charge):
            raise ChargeNotFound("No such charge.")
        return charge

    async def charges(
        self, viewer: Viewer, request: PageRequest, *, order_id: uuid.UUID | None = None
    ) -> list[Charge]:
        """Charges the viewer may see, newest first (``limit + 1`` rows)."""
        async with self._uow() as uow:
            return await repository.charges_page(
                uow.session,
                customer_id=viewer.customer_id,
                order_id=order_id,
                limit=request.limit + 1,
                after=created_before(request),
            )

    # -- refunds ------------------------------------------------------------

    async def refund(
        self, viewer: Viewer, charge_id: uuid.UUID, *, amount: int | None, currency: str | None
    ) -> Refund:
        """Refunds part or all of what remains of a charge; more than that is refused."""
        async with self._uow() as uow:
            charge = await repository.charge_for_update(uow.session, charge_id)
            if charge is None or not viewer.may_see(charge):
                raise ChargeNotFound("No such charge.")
            if charge.status != SUCCEEDED:
                raise ValidationFailed(f"A {charge.status} charge cannot be refunded.")
            if currency is not None and currency != charge.currency:
                raise ValidationFailed(
                    f"The charge is in {charge.currency}.",
                    errors=[{"loc": ["body", "amount", "currency"], "msg": "wrong currency"}],
                )
            remaining = charge.amount - charge.refunded_amount
            wanted = remaining if amount is None else amount
            if remaining == 0:
                raise ValidationFailed("The charge is refunded in full already.")
            if wanted > remaining:
                raise ValidationFailed(
                    f"At most {remaining} can be refunded.",
                    errors=[{"loc": ["body", "amount", "amount"], "msg": "more than refundable"}],
                )
            now = utcnow()
            refund = Refund(
                id=uuid.uuid4(),
                charge_id=charge.id,
                amount=wanted,
                status="pending",
                created_at=now,
                updated_at=now,
            )
            uow.session.add(refund)
            charge.refunded_amount += wanted
            charge.updated_at = now
            await uow.commit()
        await faults.point("payment.before_refund")
        try:
            await self._processor.refund(refund_id=refund.id, charge_id=charge_id, amount=wanted)
        except Exception as exc:
            log.warning(
                "the processor failed; the recovery job will complete the refund",
                exc_info=True,
                extra={"refund_id": str(refund.id)},
            )
            raise ServiceUnavailable(
                "The card processor did not answer; the refund will be completed shortly."
            ) from exc
        return await self._complete_refund(refund.id)

    # -- recovery -----------------------------------------------------------

    async def recover_forever(self) -> None:
        """The recovery job: resolves interrupted charges and refunds, forever."""
        while True:
            try:
                await self.recover_once()
            except Exception:
                log.warning("a recovery pass failed", exc_info=True)
            await asyncio.sleep(self._settings.recovery_interval_seconds)

    async def recover_once(self) -> int:
        """Resolves charges and refunds interrupted before they settled; returns how many."""
        cutoff = utcnow() - timedelta(seconds=self._settings.charge_recovery_after_seconds)
        async with self._uow() as uow:
            charges = await repository.stale_charges(
                uow.session, started_before=cutoff, limit=RECOVERY_BATCH
            )
            refunds = await repository.stale_refunds(
                uow.session, started_before=cutoff, limit=RECOVERY_BATCH
            )
        resolved = 0
        for charge, token in charges:
            try:
                result = await self._processor.charge(
                    charge_id=charge.id,
                    token=token,
                    amount=charge.amount,
                    currency=charge.currency,
                )
            except Exception:
                log.warning("could not resolve charge %s yet", charge.id, exc_info=True)
                continue
            await self._settle(charge.id, result)
            log.info("resolved an interrupted charge", extra={"charge_id": str(charge.id)})
            resolved += 1
        for refund in refunds:
            try:
                await self._processor.refund(
                    refund_id=refund.id, charge_id=refund.charge_id, amount=refund.amount
                )
            except Exception:
                log.warning("could not complete refund %s yet", refund.id, exc_info=True)
                continue
            await self._complete_refund(refund.id)
            resolved += 1
        return resolved

    # -- helpers ------------------------------------------------------------

    def _replay(self, charge: Charge, fingerprint: str) -> ChargeOutcome:
        if charge.request_hash != fingerprint:
            raise IdempotencyKeyReused(
                "This Idempotency-Key was used with a different request.",
            )
        if charge.status == PROCESSING:
            raise ChargeInProgress(
                "The first request with this Idempotency-Key is still being processed.",
                headers={"Retry-After": "1"},
            )
        return ChargeOutcome(charge, replayed=True)

    async def _settle(self, charge_id: uuid.UUID, result: ProcessorResult) -> Charge:
        """Records the processor's verdict once, with its event."""
        async with self._uow() as uow:
            settled = await repository.settle_charge(
                uow.session,
                charge_id,
                outcome=result.outcome,
                decline_code=result.decline_code,
                now=utcnow(),
            )
            if settled is None:  # settled already (by the recovery job, or a twin request)
                charge = await repository.charge(uow.session, charge_id)
                assert charge is not None
                return charge
            event = PaymentSucceeded if result.outcome == SUCCEEDED else PaymentDeclined
            await uow.publish(_settled(event, settled), subject=settled.id)
            await uow.commit()
        if self._outcomes is not None:
            self._outcomes.labels(outcome=result.outcome).inc()
        return settled

    async def _complete_refund(self, refund_id: uuid.UUID) -> Refund:
        async with self._uow() as uow:
            refund = await repository.refund_for_update(uow.session, refund_id)
            assert refund is not None
            if refund.status == "pending":
                charge = await repository.charge(uow.session, refund.charge_id)
                assert charge is not None
                refund.status = SUCCEEDED
                refund.updated_at = utcnow()
                await uow.publish(
                    PaymentRefunded(
                        refund_id=refund.id,
                        charge_id=charge.id,
                        order_id=charge.order_id,
                        customer_id=charge.customer_id,
                        amount=Money(amount=refund.amount, currency=charge.currency),
                        status=charge.status,
                        decline_code=charge.decline_code,
                        refunded_total=Money(
                            amount=charge.refunded_amount, currency=charge.currency
                        ),
                        charged=Money(amount=charge.amount, currency=charge.currency),
                    ),
                    subject=charge.id,
                )
                await uow.commit()
        return refund


def _settled(kind: type[ChargeSettled], charge: Charge) -> ChargeSettled:
    """The event of the processor's verdict on ``charge``."""
    return kind(
        charge_id=charge.id,
        order_id=charge.order_id,
        customer_id=charge.customer_id,
        amount=Money(amount=charge.amount, currency=charge.currency),
        status=charge.status,
        decline_code=charge.decline_code,
    )
