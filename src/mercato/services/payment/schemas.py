"""Request and response bodies of the payment API.

Card numbers and CVCs arrive as ``SecretStr``: they print as ``**********`` in any
repr, and validation messages never quote them (the chassis drops the input from 422
bodies, and the messages below name the rule, not the value).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from mercato.contracts.payment import ChargeCreate, ChargePublic, RefundCreate, RefundPublic
from mercato.platform.db import utcnow
from mercato.platform.schemas import Strict
from mercato.services.payment import cards

__all__ = [
    "ChargeCreate",
    "ChargePublic",
    "PaymentMethodCreate",
    "PaymentMethodPublic",
    "RefundCreate",
    "RefundPublic",
]


class PaymentMethodCreate(Strict):
    """Card details, checked here and handed to the processor; the shop keeps none of them."""

    card_number: SecretStr = Field(min_length=12, max_length=23)
    exp_month: int = Field(ge=1, le=12)
    exp_year: int = Field(ge=2000, le=2100)
    cvc: SecretStr = Field(min_length=3, max_length=4)

    @field_validator("card_number")
    @classmethod
    def _valid_number(cls, value: SecretStr) -> SecretStr:
        number = cards.normalise_number(value.get_secret_value())
        if not number.isdigit() or not 12 <= len(number) <= 19:
            raise ValueError("the card number must be 12 to 19 digits")
        if not cards.luhn_valid(number):
            raise ValueError("the card number is not valid (checksum)")
        return SecretStr(number)

    @field_validator("cvc")
    @classmethod
    def _digits(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().isdigit():
            raise ValueError("the security code must be digits")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> PaymentMethodCreate:
        if cards.expired(self.exp_month, self.exp_year, utcnow()):
            raise ValueError("the card has expired")
        brand = cards.brand_of(self.card_number.get_secret_value())
        if len(self.cvc.get_secret_value()) != cards.cvc_length(brand):
            raise ValueError(f"a {brand} card has a {cards.cvc_length(brand)}-digit security code")
        return self

    def details(self) -> cards.CardDetails:
        """The card for the processor."""
        return cards.CardDetails(
            number=self.card_number.get_secret_value(),
            exp_month=self.exp_month,
            exp_year=self.exp_year,
            cvc=self.cvc.get_secret_value(),
        )


class PaymentMethodPublic(BaseModel):
    """A payment method as the API shows it."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    brand: str
    last4: str
    exp_month: int
    exp_year: int
    created_at: datetime
