"""HTTP routes of order: parse, authorize, call one use case."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Response, status
from fastapi.responses import JSONResponse

from mercato.catalog import API_PREFIX
from mercato.platform.deps import IdempotencyKey, Provided
from mercato.platform.pagination import Page, PageRequestDep, newest_first, page_of
from mercato.platform.security import CurrentUser
from mercato.services.order.schemas import CartLineUpdate, CartPublic, CheckoutCreate, OrderPublic
from mercato.services.order.service import Carts, Orders, Viewer, order_public

router = APIRouter(prefix=API_PREFIX, tags=["order"])

REPLAYED_HEADER = "Idempotent-Replayed"


async def _viewer(user: CurrentUser) -> Viewer:
    """Administrators see every order; customers their own."""
    return Viewer(user_id=None if user.is_admin else user.user_id)


ViewerDep = Annotated[Viewer, Depends(_viewer)]


@router.get("/cart")
async def my_cart(user: CurrentUser, carts: Provided[Carts]) -> CartPublic:
    """The caller's cart at today's prices."""
    return await carts.view(user.user_id)


@router.put("/cart/items/{product_id}")
async def put_cart_item(
    product_id: uuid.UUID, body: CartLineUpdate, user: CurrentUser, carts: Provided[Carts]
) -> CartPublic:
    """Sets how many of a product the cart holds (1 to 99)."""
    return await carts.put(user.user_id, product_id, body.quantity)


@router.delete("/cart/items/{product_id}")
async def remove_cart_item(
    product_id: uuid.UUID, user: CurrentUser, carts: Provided[Carts]
) -> CartPublic:
    """Takes a product out of the cart."""
    return await carts.remove(user.user_id, product_id)


@router.post(
    "/orders",
    status_code=status.HTTP_201_CREATED,
    response_model=OrderPublic,
    responses={202: {"model": OrderPublic, "description": "The saga outlived the request"}},
)
async def check_out(
    body: CheckoutCreate, user: CurrentUser, key: IdempotencyKey, orders: Provided[Orders]
) -> Response:
    """Checks out the cart: 201 confirmed or failed, 202 pending; once per Idempotency-Key."""
    answer = await orders.checkout(
        user_id=user.user_id,
        key=key,
        shipping_address=body.shipping_address.model_dump(mode="json"),
        payment_method_id=body.payment_method_id,
    )
    headers = {"Location": f"{API_PREFIX}/orders/{answer.body.get('id')}"}
    if answer.replayed:
        headers[REPLAYED_HEADER] = "true"
    return JSONResponse(answer.body, status_code=answer.status, headers=headers)


@router.get("/orders")
async def list_orders(
    viewer: ViewerDep, page: PageRequestDep, orders: Provided[Orders]
) -> Page[OrderPublic]:
    """Orders newest first: the caller's own, or everyone's for administrators."""
    found = await orders.page(viewer, page)
    return page_of(found, page, order_public, key=newest_first)


@router.get("/orders/{order_id}")
async def get_order(
    order_id: uuid.UUID, viewer: ViewerDep, orders: Provided[Orders]
) -> OrderPublic:
    """One order: the owner's, or any for administrators."""
    return order_public(await orders.view(viewer, order_id))


@router.post(
    "/orders/{order_id}/cancel",
    response_model=OrderPublic,
    responses={202: {"model": OrderPublic, "description": "Cancellation under way"}},
)
async def cancel_order(
    order_id: uuid.UUID, viewer: ViewerDep, orders: Provided[Orders]
) -> Response:
    """Cancels a confirmed order: stock returned, payment refunded (200; 202 while under way)."""
    order = await orders.cancel(viewer, order_id)
    document = order_public(order).model_dump(mode="json")
    return JSONResponse(document, status_code=200 if order.status == "cancelled" else 202)
