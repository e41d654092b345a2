"""Card rules: the Luhn checksum, brands, expiry, CVC length. Pure functions, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, repr=False)
class CardDetails:
    """What a customer types in. Lives only for the request; never stored or logged."""

    number: str
    exp_month: int
    exp_year: int
    cvc: str

    def __repr__(self) -> str:
        # Keeps the number and CVC out of tracebacks, debuggers and accidental logs.
        return f"CardDetails(brand={brand_of(self.number)!r}, last4={self.number[-4:]!r})"


def normalise_number(number: str) -> str:
    """The digits of a card number typed with spaces or dashes."""
    return "".join(ch for ch in number if ch not in " -")


def luhn_valid(number: str) -> bool:
    """Tells whether ``number`` (digits only) passes the Luhn checksum."""
    if not number.isdigit():
        return False
    total = 0
    for position, digit in enumerate(int(d) for d in reversed(number)):
        if position % 2 == 1:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def brand_of(number: str) -> str:
    """The card brand its leading digits announce (``unknown`` for the rest)."""
    if number.startswith("4"):
        return "visa"
    if number[:2] in {"34", "37"}:
        return "amex"
    if number[:2].isdigit() and 51 <= int(number[:2]) <= 55:
        return "mastercard"
    if number[:4].isdigit() and 2221 <= int(number[:4]) <= 2720:
        return "mastercard"
    if number.startswith("6011") or number.startswith("65"):
        return "discover"
    return "unknown"


def cvc_length(brand: str) -> int:
    """How many digits the brand's security code has."""
    return 4 if brand == "amex" else 3


def expired(exp_month: int, exp_year: int, now: datetime) -> bool:
    """A card is valid through the last day of its expiry month."""
    return (exp_year, exp_month) < (now.year, now.month)
