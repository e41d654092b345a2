"""HTTP routes of payment: parse, authorize, call one use case."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status

from mercato import catalog
from mercato.catalog import API_PREFIX
from mercato.platform.deps import IdempotencyKey, Provided
from mercato.platform.errors import Forbidden
from mercato.platform.pagination import Page, PageRequestDep, newest_first, page_of
from mercato.platform.schemas import Money
from mercato.platform.security import CallingService, CurrentPrincipal, CurrentUser, ServiceOrAdmin
from mercato.services.payment.models import Charge, Refund
from mercato.services.payment.schemas import (
    ChargeCreate,
    ChargePublic,
    PaymentMethodCreate,
    PaymentMethodPublic,
    RefundCreate,
    RefundPublic,
)
from mercato.services.payment.service import ChargeRequest, Payments, Viewer

router = APIRouter(prefix=f"{API_PREFIX}/payments", tags=["payment"])

REPLAYED_HEADER = "Idempotent-Replayed"


async def _viewer(request: Request, principal: CurrentPrincipal) -> Viewer:
    """Administrators and the services allowed to call payment see every charge."""
    if principal.is_admin:
        return Viewer(customer_id=None)
    if principal.is_service:
        service = request.app.state.platform.settings.service
        if "service" in principal.roles and principal.service_name in catalog.service_callers(
            service
        ):
            return Viewer(customer_id=None)
        raise Forbidden("This service may not read charges.")
    return Viewer(customer_id=principal.user_id)


ViewerDep = Annotated[Viewer, Depends(_viewer)]


def _charge_public(charge: Charge) -> ChargePublic:
    return ChargePublic(
        id=charge.id,
        order_id=charge.order_id,
        customer_id=charge.customer_id,
        payment_method_id=charge.payment_method_id,
        status=charge.status,
        decline_code=charge.decline_code,
        amount=Money(amount=charge.amount, currency=charge.currency),
        refunded=Money(amount=charge.refunded_amount, currency=charge.currency),
        created_at=charge.created_at,
        updated_at=charge.updated_at,
    )


def _refund_public(refund: Refund, currency: str) -> RefundPublic:
    return RefundPublic(
        id=refund.id,
        charge_id=refund.charge_id,
        amount=Money(amount=refund.amount, currency=currency),
        status=refund.status,
        created_at=refund.created_at,
    )


@router.post("/methods", status_code=status.HTTP_201_CREATED)
async def add_payment_method(
    body: PaymentMethodCreate, user: CurrentUser, payments: Provided[Payments]
) -> PaymentMethodPublic:
    """Adds a card; the shop keeps its brand, last four digits and expiry only."""
    method = await payments.add_payment_method(user.user_id, body.details())
    return PaymentMethodPublic.model_validate(method)


@router.get("/methods")
async def my_payment_methods(
    user: CurrentUser, page: PageRequestDep, payments: Provided[Payments]
) -> Page[PaymentMethodPublic]:
    """The caller's cards, newest first."""
    methods = await payments.payment_methods(user.user_id, page)
    return page_of(
        methods,
        page,
        PaymentMethodPublic.model_validate,
        key=newest_first,
    )


@router.post("/charges", status_code=status.HTTP_201_CREATED)
async def create_charge(
    body: ChargeCreate,
    caller: CallingService,
    key: IdempotencyKey,
    payments: Provided[Payments],
    response: Response,
) -> ChargePublic:
    """Charges a customer's card once per Idempotency-Key (services)."""
    outcome = await payments.charge(
        principal=caller.subject,
        key=key,
        request=ChargeRequest(
            order_id=body.order_id,
            amount=body.amount.amount,
            currency=body.amount.currency,
            payment_method_id=body.payment_method_id,
            customer_id=body.customer_id,
        ),
    )
    if outcome.replayed:
        response.headers[REPLAYED_HEADER] = "true"
    return _charge_public(outcome.charge)


@router.get("/charges")
async def list_charges(
    viewer: ViewerDep,
    page: PageRequestDep,
    payments: Provided[Payments],
    order_id: Annotated[uuid.UUID | None, Query()] = None,
) -> Page[ChargePublic]:
    """Charges newest first: the caller's own, or all for administrators and services."""
    charges = await payments.charges(viewer, page, order_id=order_id)
    return page_of(charges, page, _charge_public, key=newest_first)


@router.get("/charges/{charge_id}")
async def get_charge(
    charge_id: uuid.UUID, viewer: ViewerDep, payments: Provided[Payments]
) -> ChargePublic:
    """One charge: its owner's, or any for administrators and services."""
    return _charge_public(await payments.view_charge(viewer, charge_id))


@router.post("/charges/{charge_id}/refunds", status_code=status.HTTP_201_CREATED)
async def refund_charge(
    charge_id: uuid.UUID,
    body: RefundCreate,
    _: ServiceOrAdmin,
    payments: Provided[Payments],
) -> RefundPublic:
    """Refunds part or all of what remains of a charge (services and administrators)."""
    refund = await payments.refund(
        Viewer(customer_id=None),
        charge_id,
        amount=body.amount.amount if body.amount else None,
        currency=body.amount.currency if body.amount else None,
    )
    charge = await payments.view_charge(Viewer(customer_id=None), charge_id)
    return _refund_public(refund, charge.currency)
