"""order's use cases: the cart, checkout with Idempotency-Key, viewing and cancelling orders.

Checkout snapshots names and prices from product (never from the client), then inserts
the order (pending, with its lines, total and the charge's idempotency key) and claims
the customer's Idempotency-Key in one transaction, and hands the order to the saga.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import orjson

from mercato.contracts.order import CartItemAdded
from mercato.platform.db import UnitOfWork, utcnow
from mercato.platform.errors import Conflict, IdempotencyKeyReused, NotFound, ValidationFailed
from mercato.platform.pagination import PageRequest, created_before
from mercato.services.order import repository
from mercato.services.order.clients import ProductCatalog, ProductSnapshot
from mercato.services.order.lifecycle import CheckoutAnswer, OrderStatus
from mercato.services.order.models import CartLine, CheckoutRequest, Order, OrderItem
from mercato.services.order.saga import Saga, answer_checkouts, publish_recorded
from mercato.services.order.schemas import (
    CartLinePublic,
    CartPublic,
    FailurePublic,
    Money,
    OrderItemPublic,
    OrderPublic,
)
from mercato.services.order.settings import Settings

log = logging.getLogger("mercato.order")


@dataclass(frozen=True)
class Viewer:
    """Whose orders a caller may see: one customer's, or everyone's (``user_id=None``)."""

    user_id: uuid.UUID | None

    def may_see(self, order: Order) -> bool:
        """Tells whether the order is the viewer's to see."""
        return self.user_id is None or order.user_id == self.user_id


class ProductNotFound(NotFound):
    """No such product."""

    slug, title = "product-not-found", "Product not found"


class OrderNotFound(NotFound):
    """No such order, or not the caller's."""

    slug, title = "order-not-found", "Order not found"


class CheckoutInProgress(Conflict):
    """The first checkout with this key is still running."""

    slug, title = "checkout-in-progress", "Checkout in progress"


class OrderNotCancellable(Conflict):
    """Only confirmed orders can be cancelled."""

    slug, title = "order-not-cancellable", "Order cannot be cancelled"


def order_public(order: Order) -> OrderPublic:
    """An order as the API shows it."""
    currency = order.currency
    failure = None
    if order.failure_reason:
        failure = FailurePublic(reason=order.failure_reason, detail=order.failure_detail or {})
    return OrderPublic(
        id=order.id,
        user_id=order.user_id,
        status=order.status,
        items=[
            OrderItemPublic(
                product_id=item.product_id,
                sku=item.sku,
                name=item.name,
                unit_price=Money(amount=item.unit_amount, currency=currency),
                quantity=item.quantity,
                line_total=Money(amount=item.unit_amount * item.quantity, currency=currency),
            )
            for item in order.items
        ],
        total=Money(amount=order.total_amount, currency=currency),
        shipping_address=order.shipping_address,
        payment_method_id=order.payment_method_id,
        charge_id=order.charge_id,
        failure=failure,
        created_at=order.created_at,
        updated_at=order.updated_at,
    )


def order_document(order: Order) -> dict[str, Any]:
    """The order as the JSON document the API sends (and stores for replays)."""
    document: dict[str, Any] = order_public(order).model_dump(mode="json")
    return document


class Carts:
    """The cart use cases."""

    def __init__(
        self,
        *,
        settings: Settings,
        unit_of_work: Callable[[], UnitOfWork],
        products: ProductCatalog,
    ) -> None:
        self._settings = settings
        self._uow = unit_of_work
        self._products = products

    async def view(self, user_id: uuid.UUID) -> CartPublic:
        """The cart at today's prices."""
        async with self._uow() as uow:
            lines = await repository.cart_lines(uow.session, user_id)
        products = await _lookup(self._products, [line.product_id for line in lines])
        return self._cart(lines, products)

    async def put(self, user_id: uuid.UUID, product_id: uuid.UUID, quantity: int) -> CartPublic:
        """Sets how many of a product the cart holds (the product must be for sale)."""
        product = await self._products.product(product_id)
        if product is None:
            raise ProductNotFound("No such product.")
        if not product.active:
            raise ValidationFailed("The product is not for sale.")
        async with self._uow() as uow:
            lines = await repository.cart_lines(uow.session, user_id)
            known = {line.product_id for line in lines}
            if product_id not in known and len(known) >= self._settings.max_cart_lines:
                raise ValidationFailed(
                    f"A cart holds at most {self._settings.max_cart_lines} products."
                )
            now = utcnow()
            await repository.put_cart_line(
                uow.session, user_id=user_id, product_id=product_id, quantity=quantity, now=now
            )
            held = next((line.quantity for line in lines if line.product_id == product_id), 0)
            if quantity > held:
                await uow.publish(
                    CartItemAdded(
                        user_id=user_id,
                        product_id=product_id,
                        quantity=quantity,
                        added=quantity - held,
                    ),
                    subject=user_id,
                )
            await uow.commit()
        # The cart as it now is, without reading it again: the line changed (or added, the
        # newest), priced with the product just looked up; the others at today's prices.
        if product_id in known:
            lines = [
                CartLine(
                    user_id=user_id,
                    product_id=product_id,
                    quantity=quantity,
                    added_at=line.added_at,
                )
                if line.product_id == product_id
                else line
                for line in lines
            ]
        else:
            lines.append(
                CartLine(user_id=user_id, product_id=product_id, quantity=quantity, added_at=now)
            )
        others = await _lookup(
            self._products, [line.product_id for line in lines if line.product_id != product_id]
        )
        return self._cart(lines, {**others, product_id: product})

    async def remove(self, user_id: uuid.UUID, product_id: uuid.UUID) -> CartPublic:
        """Takes a product out of the cart."""
        async with self._uow() as uow:
            await repository.remove_cart_lines(uow.session, user_id, [product_id])
            await uow.commit()
        return await self.view(user_id)

    def _cart(
        self, lines: list[CartLine], products: dict[uuid.UUID, ProductSnapshot | None]
    ) -> CartPublic:
        currency = self._settings.currency
        items, total = [], 0
        for line in lines:
            product = products.get(line.product_id)
            available = _sellable(product, currency)
            if product is not None and available:
                total += product.price * line.quantity
            items.append(
                CartLinePublic(
                    product_id=line.product_id,
                    sku=product.sku if product else None,
                    name=product.name if product else None,
                    quantity=line.quantity,
                    unit_price=Money(amount=product.price, currency=product.currency)
                    if product
                    else None,
                    line_total=Money(amount=product.price * line.quantity, currency=currency)
                    if product and available
                    else None,
                    available=available,
                )
            )
        return CartPublic(items=items, total=Money(amount=total, currency=currency))


class Orders:
    """The order use cases: checkout, views, cancellation."""

    def __init__(
        self,
        *,
        settings: Settings,
        unit_of_work: Callable[[], UnitOfWork],
        products: ProductCatalog,
        saga: Saga,
    ) -> None:
        self._settings = settings
        self._uow = unit_of_work
        self._products = products
        self._saga = saga

    async def checkout(
        self,
        *,
        user_id: uuid.UUID,
        key: str,
        shipping_address: dict[str, Any],
        payment_method_id: uuid.UUID,
    ) -> CheckoutAnswer:
        """Checks out the cart once per Idempotency-Key and runs the saga as far as it goes."""
        fingerprint = _fingerprint(
            {"shipping_address": shipping_address, "payment_method_id": str(payment_method_id)}
        )
        async with self._uow() as uow:
            known = await repository.checkout_request(uow.session, user_id, key)
            if known is not None:
                return _replay(known, fingerprint)
            lines = await repository.cart_lines(uow.session, user_id)

        order = await self._new_order(user_id, lines, shipping_address, payment_method_id)
        async with self._uow() as uow:
            claimed = await repository.place_order(
                uow.session, order, key=key, request_hash=fingerprint
            )
            if not claimed:
                # Someone else's request with this key won the race: this order never was.
                await uow.rollback()
                known = await repository.checkout_request(uow.session, user_id, key)
                assert known is not None
                return _replay(known, fingerprint)
            await publish_recorded(uow, order)
            await uow.commit()
        log.info("order created", extra={"order_id": str(order.id)})
        self._saga.reached(order)

        try:
            # Driven from the order just written: it is not read back.
            order = await self._saga.drive(order)
        except Exception:
            # The order is safe in the database: whatever stopped the saga here (a busy
            # pool, a bug), the recovery job carries it on. The customer hears "pending".
            log.warning(
                "the saga stopped inside the request; recovery will carry the order on",
                exc_info=True,
                extra={"order_id": str(order.id)},
            )
        if order.answer is not None:
            # The move that settled the order stored this answer with the key: the first.
            return order.answer
        async with self._uow() as uow:
            answer = await answer_checkouts(uow.session, order, order_document, now=utcnow())
            await uow.commit()
            if answer is not None:
                return answer
            # The saga stored the answer when the order settled: that one is the first.
            stored = await repository.checkout_request(uow.session, user_id, key)
        assert stored is not None
        assert stored.response_status is not None
        return CheckoutAnswer(stored.response_status, stored.response_body or {})

    async def view(self, viewer: Viewer, order_id: uuid.UUID) -> Order:
        """One order the viewer may see; anything else is not found."""
        async with self._uow() as uow:
            order = await repository.order(uow.session, order_id)
        if order is None or not viewer.may_see(order):
            raise OrderNotFound("No such order.")
        return order

    async def page(self, viewer: Viewer, request: PageRequest) -> list[Order]:
        """Orders the viewer may see, newest first (``limit + 1`` rows)."""
        async with self._uow() as uow:
            return await repository.orders_page(
                uow.session,
                user_id=viewer.user_id,
                limit=request.limit + 1,
                after=created_before(request),
            )

    async def cancel(self, viewer: Viewer, order_id: uuid.UUID) -> Order:
        """Cancels a confirmed order: its stock goes back and its payment is refunded."""
        order = await self.view(viewer, order_id)
        if order.status == OrderStatus.CANCELLED:
            return order
        if not await self._saga.request_cancellation(order):
            raise OrderNotCancellable(f"A {order.status} order cannot be cancelled.")
        return await self._saga.advance(order.id)

    async def _new_order(
        self,
        user_id: uuid.UUID,
        lines: list[CartLine],
        shipping_address: dict[str, Any],
        payment_method_id: uuid.UUID,
    ) -> Order:
        """A pending order from the cart's lines, priced by product right now."""
        if not lines:
            raise ValidationFailed("The cart is empty.")
        products = await _lookup(self._products, [line.product_id for line in lines])
        currency = self._settings.currency
        errors = [
            {"loc": ["cart", str(line.product_id)], "msg": "the product is not for sale"}
            for line in lines
            if not _sellable(products.get(line.product_id), currency)
        ]
        if errors:
            raise ValidationFailed("Some products in the cart are not for sale.", errors=errors)
        order_id = uuid.uuid4()
        now = utcnow()
        items = []
        for number, line in enumerate(lines, start=1):
            product = products[line.product_id]
            assert product is not None
            items.append(
                OrderItem(
                    order_id=order_id,
                    line=number,
                    product_id=product.id,
                    sku=product.sku,
                    name=product.name,
                    unit_amount=product.price,
                    quantity=line.quantity,
                )
            )
        return Order.place(
            id=order_id,
            user_id=user_id,
            items=items,
            currency=currency,
            shipping_address=shipping_address,
            payment_method_id=payment_method_id,
            lease_until=now + timedelta(seconds=self._settings.saga_lease_seconds),
            now=now,
        )


def _sellable(product: ProductSnapshot | None, currency: str) -> bool:
    return product is not None and product.active and product.currency == currency


async def _lookup(
    products: ProductCatalog, ids: list[uuid.UUID]
) -> dict[uuid.UUID, ProductSnapshot | None]:
    found = await asyncio.gather(*(products.product(i) for i in ids))
    return dict(zip(ids, found, strict=True))


def _fingerprint(body: dict[str, Any]) -> str:
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _replay(known: CheckoutRequest, fingerprint: str) -> CheckoutAnswer:
    if known.request_hash != fingerprint:
        raise IdempotencyKeyReused("This Idempotency-Key was used with a different request.")
    if known.response_status is None:
        raise CheckoutInProgress(
            "The first checkout with this Idempotency-Key is still running.",
            headers={"Retry-After": "1"},
        )
    return CheckoutAnswer(known.response_status, known.response_body or {}, replayed=True)
