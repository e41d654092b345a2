"""The shop's shared vocabulary of bodies: the strict request base, money, postal addresses.

Every service and every contract builds on these, so a field means the same thing wherever
it travels (one ``Money``, one way to spell a country), and every body refuses unknown
fields the same way.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

MAX_AMOUNT = 10**12


def holds_nul(value: Any) -> bool:
    """Tells whether a value, or anything inside it, is text with a NUL character."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(holds_nul(k) or holds_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple | set | frozenset):
        return any(holds_nul(v) for v in value)
    return False


class Strict(BaseModel):
    """A body that refuses unknown fields, and NUL characters PostgreSQL cannot store."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="after")
    @classmethod
    def _refuse_nul(cls, value: Any) -> Any:
        if holds_nul(value):
            raise ValueError("must not contain NUL characters")
        return value


class Money(BaseModel):
    """An amount in minor units of a currency."""

    amount: int
    currency: str


class Amount(Strict):
    """A positive amount of money in a request."""

    amount: int = Field(gt=0, le=MAX_AMOUNT)
    currency: str = Field(pattern=r"^[A-Z]{3}$")


# The fields of a postal address, shared by the addresses of a profile and of an order;
# each model lists them itself so its own fields (a label, a name) keep their place in
# its body and in the JSON stored from it.
AddressLine = Annotated[str, Field(min_length=1, max_length=200)]
SecondAddressLine = Annotated[str | None, Field(max_length=200)]
City = Annotated[str, Field(min_length=1, max_length=100)]
PostalCode = Annotated[str, Field(min_length=1, max_length=20)]
Country = Annotated[
    str,
    Field(pattern=r"^[A-Za-z]{2}$", description="ISO 3166-1 alpha-2"),
    AfterValidator(str.upper),
]
