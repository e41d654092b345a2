"""Response bodies of the analytics API, and their CSV form."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Sequence
from datetime import date
from enum import StrEnum
from typing import Any

from pydantic import BaseModel

from mercato.platform.schemas import Money

__all__ = ["Funnel", "Money", "NewUsersDay", "ReportFormat", "SalesDay", "TopProduct", "csv_of"]


class ReportFormat(StrEnum):
    """How a report is answered: JSON, or CSV with a header row."""

    json = "json"
    csv = "csv"


class SalesDay(BaseModel):
    """One UTC day of sales: orders confirmed, and revenue net of what was taken back."""

    date: date
    orders: int
    revenue: Money
    gross_revenue: Money
    refunded_orders: int
    refunds: Money


class TopProduct(BaseModel):
    """A product with the units it sold over the period (net of those taken back)."""

    product_id: uuid.UUID
    sku: str
    name: str
    quantity: int
    revenue: Money


class Funnel(BaseModel):
    """From cart to order over a period: carts are distinct customers who added an item."""

    carts: int
    orders_created: int
    orders_confirmed: int
    orders_failed: int
    orders_cancelled: int
    orders_refunded: int


class NewUsersDay(BaseModel):
    """Accounts registered on one UTC day."""

    date: date
    users: int


def csv_of(model: type[BaseModel], rows: Sequence[BaseModel]) -> str:
    """``rows`` as CSV with a header row; a Money field ``x`` becomes ``x_amount,x_currency``."""
    header: list[str] = []
    for name, field in model.model_fields.items():
        header += [f"{name}_amount", f"{name}_currency"] if field.annotation is Money else [name]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        cells: list[Any] = []
        for name in model.model_fields:
            value = getattr(row, name)
            cells += [value.amount, value.currency] if isinstance(value, Money) else [value]
        writer.writerow(cells)
    return out.getvalue()
