"""payment's contracts: charges and refunds as order asks for them, and its events."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import ClassVar

from pydantic import BaseModel

from mercato.contracts.calls import Call
from mercato.platform.envelope import EventPayload
from mercato.platform.pagination import Page
from mercato.platform.schemas import Amount, Money, Strict


class ChargeCreate(Strict):
    """A charge a service asks for (the order saga)."""

    order_id: uuid.UUID
    amount: Amount
    payment_method_id: uuid.UUID
    customer_id: uuid.UUID


class ChargePublic(BaseModel):
    """A charge as the API shows it."""

    id: uuid.UUID
    order_id: uuid.UUID
    customer_id: uuid.UUID
    payment_method_id: uuid.UUID
    status: str
    decline_code: str | None
    amount: Money
    refunded: Money
    created_at: datetime
    updated_at: datetime


ChargePage = Page[ChargePublic]


class RefundCreate(Strict):
    """A refund; without an amount, whatever remains refundable."""

    amount: Amount | None = None


class RefundPublic(BaseModel):
    """A refund as the API shows it."""

    id: uuid.UUID
    charge_id: uuid.UUID
    amount: Money
    status: str
    created_at: datetime


class ChargeSettled(EventPayload):
    """A charge as the processor's verdict left it."""

    charge_id: uuid.UUID
    order_id: uuid.UUID
    customer_id: uuid.UUID
    amount: Money
    status: str
    decline_code: str | None


class PaymentSucceeded(ChargeSettled):
    """The processor accepted a charge."""

    event_type: ClassVar[str] = "payment.succeeded"


class PaymentDeclined(ChargeSettled):
    """The processor declined a charge; ``decline_code`` says why."""

    event_type: ClassVar[str] = "payment.declined"


class PaymentRefunded(EventPayload):
    """Money went back to the customer: ``amount`` this time, ``refunded_total`` in all,
    of a charge of ``charged``."""

    event_type: ClassVar[str] = "payment.refunded"

    refund_id: uuid.UUID
    charge_id: uuid.UUID
    order_id: uuid.UUID
    customer_id: uuid.UUID
    amount: Money
    status: str
    decline_code: str | None
    refunded_total: Money
    charged: Money | None = None


CALLS = (
    Call(
        "POST",
        "/api/v1/payments/charges",
        "Charges a customer's card once per Idempotency-Key (201; 200 when replayed).",
        body=ChargeCreate,
        headers=("Idempotency-Key",),
        answers={201: ChargePublic, 200: ChargePublic},
    ),
    Call(
        "GET",
        "/api/v1/payments/charges",
        "The charges of an order, newest first.",
        query={"order_id": "uuid", "limit": "int", "cursor": "string"},
        answers={200: ChargePage},
    ),
    Call(
        "POST",
        "/api/v1/payments/charges/{charge_id}/refunds",
        "Refunds part or all of what remains of a charge.",
        body=RefundCreate,
        answers={201: RefundPublic},
    ),
)
