"""Queries of the payment database."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select, text, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from mercato.services.payment.models import Charge, PaymentMethod, Refund

PROCESSING, PENDING = "processing", "pending"
CHARGES = Charge.__table__

# The charge as "processing", in one statement: only on the customer's own payment method,
# only if the caller has not used the key yet (a concurrent insert with the same key waits
# for the first transaction, then does nothing). One row, the method's token and the new
# charge's id (NULL when the key was taken), or no row when the method is not the customer's.
_OPEN_CHARGE = text(
    """
    WITH method AS (
        SELECT id, processor_token FROM payment_methods
        WHERE id = CAST(:payment_method_id AS uuid) AND customer_id = CAST(:customer_id AS uuid)
    ), opened AS (
        INSERT INTO charges (id, principal, idempotency_key, request_hash, order_id,
            customer_id, payment_method_id, amount, currency, status, decline_code,
            refunded_amount, created_at, updated_at)
        SELECT CAST(:id AS uuid), CAST(:principal AS varchar), CAST(:idempotency_key AS varchar),
            CAST(:request_hash AS varchar), CAST(:order_id AS uuid),
            CAST(:customer_id AS uuid), method.id, CAST(:amount AS bigint),
            CAST(:currency AS varchar), 'processing', NULL, 0,
            CAST(:now AS timestamptz), CAST(:now AS timestamptz)
        FROM method
        ON CONFLICT (principal, idempotency_key) DO NOTHING
        RETURNING id
    )
    SELECT method.processor_token, (SELECT id FROM opened) AS opened FROM method
    """
)


async def payment_method(session: AsyncSession, method_id: uuid.UUID) -> PaymentMethod | None:
    """The payment method ``method_id``."""
    return await session.get(PaymentMethod, method_id)


async def payment_methods_page(
    session: AsyncSession,
    *,
    customer_id: uuid.UUID,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None,
) -> list[PaymentMethod]:
    """A customer's payment methods, newest first."""
    query = (
        select(PaymentMethod)
        .where(PaymentMethod.customer_id == customer_id)
        .order_by(PaymentMethod.created_at.desc(), PaymentMethod.id.desc())
        .limit(limit)
    )
    if after is not None:
        query = query.where(tuple_(PaymentMethod.created_at, PaymentMethod.id) < tuple_(*after))
    return list((await session.scalars(query)).all())


async def charge_by_key(session: AsyncSession, principal: str, key: str) -> Charge | None:
    """The charge a caller made with an idempotency key."""
    return await session.scalar(
        select(Charge).where(Charge.principal == principal, Charge.idempotency_key == key)
    )


async def insert_charge_once(session: AsyncSession, values: dict[str, Any]) -> bool:
    """Inserts a charge unless the caller used its key already; True when inserted.

    A concurrent insert with the same key waits for the first transaction, then does
    nothing: the unique constraint decides who owns the key.
    """
    result = await session.execute(
        insert(Charge)
        .values(**values)
        .on_conflict_do_nothing(index_elements=[Charge.principal, Charge.idempotency_key])
        .returning(Charge.id)
    )
    return result.first() is not None


async def open_charge(
    session: AsyncSession,
    *,
    id: uuid.UUID,
    principal: str,
    idempotency_key: str,
    request_hash: str,
    order_id: uuid.UUID,
    customer_id: uuid.UUID,
    payment_method_id: uuid.UUID,
    amount: int,
    currency: str,
    now: datetime,
) -> tuple[str, bool] | None:
    """Inserts the charge as processing; (the card's token, whether it was inserted), or
    None when the payment method is not the customer's (nothing inserted).
    """
    row = (
        await session.execute(
            _OPEN_CHARGE,
            {
                "id": id,
                "principal": principal,
                "idempotency_key": idempotency_key,
                "request_hash": request_hash,
                "order_id": order_id,
                "customer_id": customer_id,
                "payment_method_id": payment_method_id,
                "amount": amount,
                "currency": currency,
                "now": now,
            },
        )
    ).first()
    if row is None:
        return None
    return str(row[0]), row[1] is not None


async def settle_charge(
    session: AsyncSession,
    charge_id: uuid.UUID,
    *,
    outcome: str,
    decline_code: str | None,
    now: datetime,
) -> Charge | None:
    """Records the verdict on a charge still processing; the charge as settled (not
    attached to the session), or None when it was settled already.
    """
    row = (
        await session.execute(
            update(CHARGES)
            .where(CHARGES.c.id == charge_id, CHARGES.c.status == PROCESSING)
            .values(status=outcome, decline_code=decline_code, updated_at=now)
            .returning(*CHARGES.c)
        )
    ).first()
    return None if row is None else Charge(**row._mapping)


async def charge(session: AsyncSession, charge_id: uuid.UUID) -> Charge | None:
    """The charge ``charge_id``."""
    return await session.get(Charge, charge_id)


async def charge_for_update(session: AsyncSession, charge_id: uuid.UUID) -> Charge | None:
    """The charge ``charge_id``, locked until the transaction ends."""
    return await session.get(Charge, charge_id, with_for_update=True, populate_existing=True)


async def charges_page(
    session: AsyncSession,
    *,
    customer_id: uuid.UUID | None,
    order_id: uuid.UUID | None,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None,
) -> list[Charge]:
    """Charges newest first, optionally of one customer and/or one order."""
    query = select(Charge).order_by(Charge.created_at.desc(), Charge.id.desc()).limit(limit)
    if customer_id is not None:
        query = query.where(Charge.customer_id == customer_id)
    if order_id is not None:
        query = query.where(Charge.order_id == order_id)
    if after is not None:
        query = query.where(tuple_(Charge.created_at, Charge.id) < tuple_(*after))
    return list((await session.scalars(query)).all())


async def stale_charges(
    session: AsyncSession, *, started_before: datetime, limit: int
) -> list[tuple[Charge, str]]:
    """Charges still processing that began before ``started_before``, with their card tokens."""
    rows = await session.execute(
        select(Charge, PaymentMethod.processor_token)
        .join(PaymentMethod, PaymentMethod.id == Charge.payment_method_id)
        .where(Charge.status == PROCESSING, Charge.created_at < started_before)
        .order_by(Charge.created_at)
        .limit(limit)
    )
    return [(c, token) for c, token in rows.all()]


async def refund_for_update(session: AsyncSession, refund_id: uuid.UUID) -> Refund | None:
    """The refund ``refund_id``, locked until the transaction ends."""
    return await session.get(Refund, refund_id, with_for_update=True, populate_existing=True)


async def stale_refunds(
    session: AsyncSession, *, started_before: datetime, limit: int
) -> list[Refund]:
    """Refunds still pending that began before ``started_before``."""
    query = (
        select(Refund)
        .where(Refund.status == PENDING, Refund.created_at < started_before)
        .order_by(Refund.created_at)
        .limit(limit)
    )
    return list((await session.scalars(query)).all())
