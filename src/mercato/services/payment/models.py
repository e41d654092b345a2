"""payment's tables: payment methods, charges, refunds, and the sandbox processor's own.

No table has a column for a card number or a CVC: a payment method keeps brand, last
four digits, expiry and the processor's opaque token; the sandbox keeps only the
behaviour its test card number stands for.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    SmallInteger,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from mercato.platform.db import declarative_base

Base = declarative_base()


class PaymentMethod(Base):
    """A customer's card, as far as the shop may know it."""

    __tablename__ = "payment_methods"
    __table_args__ = (
        Index("ix_payment_methods_customer_id_created_at", "customer_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    brand: Mapped[str] = mapped_column(String(20))
    last4: Mapped[str] = mapped_column(String(4))
    exp_month: Mapped[int] = mapped_column(SmallInteger)
    exp_year: Mapped[int] = mapped_column(SmallInteger)
    processor_token: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Charge(Base):
    """A charge, written as "processing" before the processor is asked.

    ``(principal, idempotency_key)`` is unique: the first request inserts the row, a
    repeat finds it and replays it (same ``request_hash``), refuses it (different
    hash) or answers 409 while it is still processing.
    """

    __tablename__ = "charges"
    __table_args__ = (
        UniqueConstraint("principal", "idempotency_key", name="uq_charges_principal_key"),
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint(
            "refunded_amount >= 0 AND refunded_amount <= amount", name="refunded_within_amount"
        ),
        Index("ix_charges_created_at_id", "created_at", "id"),
        Index("ix_charges_customer_id_created_at_id", "customer_id", "created_at", "id"),
        Index(
            "ix_charges_processing",
            "created_at",
            postgresql_where=text("status = 'processing'"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    principal: Mapped[str] = mapped_column(String(200))
    idempotency_key: Mapped[str] = mapped_column(String(200))
    request_hash: Mapped[str] = mapped_column(String(64))
    order_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), index=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    payment_method_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("payment_methods.id")
    )
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16))  # processing, succeeded, declined
    decline_code: Mapped[str | None] = mapped_column(String(50))
    refunded_amount: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Refund(Base):
    """Part or all of a charge given back; "pending" until the processor confirms it."""

    __tablename__ = "refunds"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        Index("ix_refunds_pending", "created_at", postgresql_where=text("status = 'pending'")),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    charge_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("charges.id"), index=True
    )
    amount: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))  # pending, succeeded
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


# -- the sandbox processor's own tables (a real processor keeps these on its side) ------


class SandboxCard(Base):
    """A tokenized sandbox card: the token and what the card does, never its number."""

    __tablename__ = "sandbox_cards"

    token: Mapped[str] = mapped_column(String(100), primary_key=True)
    behaviour: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class SandboxCharge(Base):
    """A charge as the sandbox processed it; its id is the shop's charge id (idempotency)."""

    __tablename__ = "sandbox_charges"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    token: Mapped[str] = mapped_column(String(100))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    outcome: Mapped[str] = mapped_column(String(16))  # succeeded, declined
    decline_code: Mapped[str | None] = mapped_column(String(50))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class SandboxRefund(Base):
    """A refund as the sandbox processed it; its id is the shop's refund id."""

    __tablename__ = "sandbox_refunds"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    charge_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("sandbox_charges.id"), index=True
    )
    amount: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
