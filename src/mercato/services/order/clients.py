"""Calls to product, inventory and payment, behind the small interfaces the use cases need.

Requests and answers are the callees' own contract models (:mod:`mercato.contracts`).
Transient trouble (unreachable, too slow, an unexpected answer, one that breaks its
contract) raises the chassis' ServiceUnavailable or GatewayTimeout: the saga leaves the
order as it is and tries again later. Answers that decide something become results or the
exceptions below.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, ValidationError

from mercato.catalog import API_PREFIX
from mercato.contracts.inventory import (
    InsufficientStockProblem,
    ReservationCreate,
    ReservationLine,
    ReservationPublic,
)
from mercato.contracts.payment import ChargeCreate, ChargePage, ChargePublic, RefundCreate
from mercato.contracts.product import ProductPublic
from mercato.platform.errors import ServiceUnavailable
from mercato.platform.http import HttpClients, Reply
from mercato.platform.schemas import Amount


@dataclass(frozen=True)
class ProductSnapshot:
    """A product as order needs it: what to call it, what it costs, whether it sells."""

    id: uuid.UUID
    sku: str
    name: str
    price: int
    currency: str
    active: bool


@dataclass(frozen=True)
class StockLine:
    """A SKU and a quantity to reserve."""

    sku: str
    quantity: int


@dataclass(frozen=True)
class ChargeResult:
    """A charge as payment reports it."""

    id: uuid.UUID
    status: str  # processing, succeeded, declined
    decline_code: str | None
    amount: int
    refunded: int


class OutOfStock(Exception):
    """Inventory cannot hold every line; nothing was reserved."""

    def __init__(self, short: list[dict[str, Any]]) -> None:
        super().__init__("out of stock")
        self.short = short


class ReservationGone(Exception):
    """The reservation was released or expired and cannot be committed."""


class ChargeInProgress(Exception):
    """Payment is still processing the charge made with this key."""


class PaymentRefused(Exception):
    """Payment refused the request itself (an unknown or foreign payment method)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NothingToRefund(Exception):
    """The charge has nothing left to refund."""


class ProductCatalog(Protocol):
    """Reads products."""

    async def product(self, product_id: uuid.UUID) -> ProductSnapshot | None:
        """The product, or None when there is no such product."""
        ...


class StockKeeper(Protocol):
    """Reserves, commits and releases stock."""

    async def reserve(
        self, order_id: uuid.UUID, lines: Sequence[StockLine], ttl_seconds: int
    ) -> uuid.UUID:
        """Holds every line or none (OutOfStock); idempotent on ``order_id``."""
        ...

    async def commit(self, reservation_id: uuid.UUID) -> None:
        """Takes the held units out of stock for good (ReservationGone if too late)."""
        ...

    async def release(self, reservation_id: uuid.UUID) -> None:
        """Gives held (or committed) units back to stock; idempotent."""
        ...


class Cashier(Protocol):
    """Charges and refunds customers."""

    async def charge(
        self,
        *,
        key: str,
        order_id: uuid.UUID,
        amount: int,
        currency: str,
        payment_method_id: uuid.UUID,
        customer_id: uuid.UUID,
    ) -> ChargeResult:
        """Charges once per ``key`` (ChargeInProgress while the first attempt runs)."""
        ...

    async def charges_for(self, order_id: uuid.UUID) -> list[ChargeResult]:
        """Every charge made for the order."""
        ...

    async def refund(self, charge_id: uuid.UUID) -> None:
        """Refunds what remains of a charge (NothingToRefund when nothing does)."""
        ...


def _unexpected(upstream: str, reply: Reply) -> ServiceUnavailable:
    return ServiceUnavailable(f"{upstream} answered {reply.status} unexpectedly.")


M = TypeVar("M", bound=BaseModel)


def _answer(upstream: str, reply: Reply, model: type[M]) -> M:
    """The reply's body as the callee's contract says it is."""
    try:
        return model.model_validate_json(reply.body)
    except ValidationError:
        raise ServiceUnavailable(f"{upstream} answered outside its contract.") from None


class ProductClient:
    """product over HTTP (public routes)."""

    def __init__(self, http: HttpClients) -> None:
        self._http = http

    async def product(self, product_id: uuid.UUID) -> ProductSnapshot | None:
        """The product, or None when product does not know it."""
        reply = await self._http.to("product").request("GET", f"{API_PREFIX}/products/{product_id}")
        if reply.status == 404:
            return None
        if reply.status != 200:
            raise _unexpected("product", reply)
        product = _answer("product", reply, ProductPublic)
        return ProductSnapshot(
            id=product.id,
            sku=product.sku,
            name=product.name,
            price=product.price.amount,
            currency=product.price.currency,
            active=product.active,
        )


class InventoryClient:
    """inventory's reservations over HTTP, with order's own service token."""

    def __init__(self, http: HttpClients) -> None:
        self._http = http

    async def reserve(
        self, order_id: uuid.UUID, lines: Sequence[StockLine], ttl_seconds: int
    ) -> uuid.UUID:
        """Holds every line or none; idempotent on ``order_id``."""
        try:
            body = ReservationCreate(
                order_id=order_id,
                items=[ReservationLine(sku=line.sku, quantity=line.quantity) for line in lines],
                ttl_seconds=ttl_seconds,
            )
        except ValidationError:
            # inventory would answer 422 to it: the same unexpected answer, without the call.
            raise ServiceUnavailable("inventory cannot take this reservation.") from None
        reply = await self._http.to("inventory").request(
            "POST",
            f"{API_PREFIX}/inventory/reservations",
            json=body.model_dump(mode="json"),
            as_service=True,
        )
        if reply.status in (200, 201):
            return _answer("inventory", reply, ReservationPublic).id
        if reply.status == 409 and "short" in reply.json():
            problem = _answer("inventory", reply, InsufficientStockProblem)
            raise OutOfStock([line.model_dump() for line in problem.short])
        raise _unexpected("inventory", reply)

    async def commit(self, reservation_id: uuid.UUID) -> None:
        """Takes the held units out of stock for good."""
        reply = await self._http.to("inventory").request(
            "POST",
            f"{API_PREFIX}/inventory/reservations/{reservation_id}/commit",
            as_service=True,
        )
        if reply.status == 200:
            return
        if reply.status in (404, 409):
            raise ReservationGone()
        raise _unexpected("inventory", reply)

    async def release(self, reservation_id: uuid.UUID) -> None:
        """Gives the units back; an unknown reservation holds nothing."""
        reply = await self._http.to("inventory").request(
            "POST",
            f"{API_PREFIX}/inventory/reservations/{reservation_id}/release",
            as_service=True,
        )
        if reply.status in (200, 404):
            return
        raise _unexpected("inventory", reply)


class PaymentClient:
    """payment's charges over HTTP, with order's own service token."""

    def __init__(self, http: HttpClients, *, charge_timeout: float) -> None:
        self._http = http
        self._charge_timeout = charge_timeout

    async def charge(
        self,
        *,
        key: str,
        order_id: uuid.UUID,
        amount: int,
        currency: str,
        payment_method_id: uuid.UUID,
        customer_id: uuid.UUID,
    ) -> ChargeResult:
        """Charges once per ``key``."""
        try:
            body = ChargeCreate(
                order_id=order_id,
                amount=Amount(amount=amount, currency=currency),
                payment_method_id=payment_method_id,
                customer_id=customer_id,
            )
        except ValidationError as exc:
            # payment would refuse it with a 422: refused, without the call.
            raise PaymentRefused(str(exc.errors()[0]["msg"])) from None
        reply = await self._http.to("payment").request(
            "POST",
            f"{API_PREFIX}/payments/charges",
            json=body.model_dump(mode="json"),
            headers={"Idempotency-Key": key},
            as_service=True,
            timeout=self._charge_timeout,
        )
        if reply.status in (200, 201):
            return _charge(_answer("payment", reply, ChargePublic))
        if reply.status == 409:
            raise ChargeInProgress()
        if reply.status == 422:
            raise PaymentRefused(str(reply.json().get("detail", "refused")))
        raise _unexpected("payment", reply)

    async def charges_for(self, order_id: uuid.UUID) -> list[ChargeResult]:
        """Every charge made for the order (an order has one, rarely a few)."""
        reply = await self._http.to("payment").request(
            "GET",
            f"{API_PREFIX}/payments/charges?order_id={order_id}&limit=100",
            as_service=True,
        )
        if reply.status != 200:
            raise _unexpected("payment", reply)
        return [_charge(charge) for charge in _answer("payment", reply, ChargePage).items]

    async def refund(self, charge_id: uuid.UUID) -> None:
        """Refunds what remains of the charge."""
        reply = await self._http.to("payment").request(
            "POST",
            f"{API_PREFIX}/payments/charges/{charge_id}/refunds",
            json=RefundCreate().model_dump(mode="json", exclude_unset=True),
            as_service=True,
        )
        if reply.status in (200, 201):
            return
        if reply.status == 422:
            raise NothingToRefund()
        raise _unexpected("payment", reply)


def _charge(charge: ChargePublic) -> ChargeResult:
    return ChargeResult(
        id=charge.id,
        status=charge.status,
        decline_code=charge.decline_code,
        amount=charge.amount.amount,
        refunded=charge.refunded.amount,
    )
