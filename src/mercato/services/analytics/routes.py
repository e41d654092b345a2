"""HTTP routes of analytics (administrators only): parse, authorize, call one use case."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel
from starlette.responses import Response

from mercato.catalog import API_PREFIX
from mercato.platform.deps import Provided
from mercato.platform.security import AdminUser
from mercato.services.analytics.schemas import (
    Funnel,
    NewUsersDay,
    ReportFormat,
    SalesDay,
    TopProduct,
    csv_of,
)
from mercato.services.analytics.service import Period, Reports

router = APIRouter(prefix=f"{API_PREFIX}/analytics", tags=["analytics"])

# A report answers JSON, or CSV with ``?format=csv``.
CSV: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {}}, "description": "The report (JSON or CSV)."}
}


async def _period(
    reports: Provided[Reports],
    first: Annotated[
        date | None, Query(alias="from", description="First UTC day (YYYY-MM-DD), inclusive")
    ] = None,
    last: Annotated[
        date | None, Query(alias="to", description="Last UTC day (YYYY-MM-DD), inclusive")
    ] = None,
) -> Period:
    return reports.period(first, last)


# The administrator is checked first: an anonymous caller gets 401 even with a bad period.
PeriodDep = Annotated[Period, Depends(_period)]
FormatDep = Annotated[ReportFormat, Query()]


def _answer(model: type[BaseModel], report: Any, form: ReportFormat) -> Any:
    """The report as JSON, or as CSV rows (one row for a report that is one object)."""
    if form is ReportFormat.csv:
        rows: Sequence[BaseModel] = report if isinstance(report, list) else [report]
        return Response(csv_of(model, rows), media_type="text/csv")
    return report


@router.get("/sales", response_model=list[SalesDay], responses=CSV)
async def sales(
    _: AdminUser,
    period: PeriodDep,
    reports: Provided[Reports],
    granularity: Literal["day"] = "day",
    format: FormatDep = ReportFormat.json,
) -> Any:
    """Orders and revenue per UTC day of the period, days without sales as zeros."""
    return _answer(SalesDay, await reports.sales(period), format)


@router.get("/top-products", response_model=list[TopProduct], responses=CSV)
async def top_products(
    _: AdminUser,
    period: PeriodDep,
    reports: Provided[Reports],
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
    format: FormatDep = ReportFormat.json,
) -> Any:
    """The products that sold most units over the period."""
    return _answer(TopProduct, await reports.top_products(period, limit), format)


@router.get("/funnel", response_model=Funnel, responses=CSV)
async def funnel(
    _: AdminUser,
    period: PeriodDep,
    reports: Provided[Reports],
    format: FormatDep = ReportFormat.json,
) -> Any:
    """Carts and orders at each step over the period."""
    return _answer(Funnel, await reports.funnel(period), format)


@router.get("/users", response_model=list[NewUsersDay], responses=CSV)
async def new_users(
    _: AdminUser,
    period: PeriodDep,
    reports: Provided[Reports],
    format: FormatDep = ReportFormat.json,
) -> Any:
    """New accounts per UTC day of the period, days without as zeros."""
    return _answer(NewUsersDay, await reports.new_users(period), format)
