"""The checkout use cases and saga on a real order database, with fakes for the other services."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text

from mercato.contracts.payment import PaymentRefunded
from mercato.platform import migrations
from mercato.platform.db import Database, utcnow
from mercato.platform.envelope import Event
from mercato.platform.errors import Conflict, NotFound, ValidationFailed
from mercato.platform.schemas import Money
from mercato.services.order.saga import Saga, record_refund
from mercato.services.order.service import Carts, Orders, Viewer, order_document
from mercato.services.order.settings import Settings
from tests.integration.order.fakes import FakeCashier, FakeProducts, FakeStock

ADDRESS = {
    "name": "Ada Lovelace",
    "line1": "12 St James's Square",
    "line2": None,
    "city": "London",
    "postal_code": "SW1Y 4JH",
    "country": "GB",
}


@dataclass
class Shop:
    database: Database
    products: FakeProducts
    stock: FakeStock
    cashier: FakeCashier
    saga: Saga
    carts: Carts
    orders: Orders

    async def scalar(self, sql: str, **params: Any) -> Any:
        async with self.database.sessionmaker() as session:
            return await session.scalar(text(sql), params)

    async def events(self, order_id: uuid.UUID) -> list[str]:
        async with self.database.sessionmaker() as session:
            rows = await session.execute(
                text("SELECT type FROM outbox WHERE subject = :s ORDER BY position"),
                {"s": str(order_id)},
            )
            return [r[0] for r in rows]

    async def checkout(self, user: uuid.UUID, method: uuid.UUID, key: str | None = None):
        return await self.orders.checkout(
            user_id=user,
            key=key or uuid.uuid4().hex,
            shipping_address=ADDRESS,
            payment_method_id=method,
        )


@pytest.fixture
async def shop(databases) -> AsyncIterator[Shop]:
    url = await databases.empty()
    await asyncio.to_thread(migrations.upgrade, "mercato.services.order:migrations", url)
    database = Database(url, source="order")
    settings = Settings(saga_lease_seconds=0.2, pending_timeout_seconds=300)
    products, stock, cashier = FakeProducts(), FakeStock(), FakeCashier()
    saga = Saga(
        settings=settings,
        unit_of_work=database.unit_of_work,
        stock=stock,
        cashier=cashier,
        present=order_document,
    )
    try:
        yield Shop(
            database,
            products,
            stock,
            cashier,
            saga,
            Carts(settings=settings, unit_of_work=database.unit_of_work, products=products),
            Orders(
                settings=settings,
                unit_of_work=database.unit_of_work,
                products=products,
                saga=saga,
            ),
        )
    finally:
        await database.close()
        await databases.drop_created()


async def recover_until(shop: Shop, order_id: uuid.UUID, done, *, seconds: float = 30.0):
    """Runs recovery passes until ``done(order)`` holds (or the time is up)."""
    for _ in range(int(seconds / 0.05)):
        order = await shop.saga.load(order_id)
        if done(order):
            return order
        await asyncio.sleep(0.05)
        await shop.saga.recover_once()
    return await shop.saga.load(order_id)


async def recover_until_settled(shop: Shop, order_id: uuid.UUID):
    return await recover_until(shop, order_id, lambda o: o.step is None)


async def test_checkout_confirms_takes_stock_and_charges_once(shop):
    user, method = uuid.uuid4(), uuid.uuid4()
    mug = shop.products.add("MUG-1", 1250, name="Mug")
    shop.stock.on_hand["MUG-1"] = 5
    await shop.carts.put(user, mug, 2)

    answer = await shop.checkout(user, method)

    assert answer.status == 201
    assert answer.body["status"] == "confirmed"
    assert answer.body["total"] == {"amount": 2500, "currency": "EUR"}
    assert answer.body["items"][0]["name"] == "Mug"
    assert shop.stock.on_hand["MUG-1"] == 3
    assert len(shop.cashier.charges) == 1
    assert (await shop.carts.view(user)).items == []
    order_id = uuid.UUID(answer.body["id"])
    assert await shop.events(order_id) == ["order.created", "order.confirmed"]


async def test_prices_and_names_are_snapshotted_from_product_at_checkout(shop):
    user = uuid.uuid4()
    lamp = shop.products.add("LAMP-1", 4000, name="Lamp")
    shop.stock.on_hand["LAMP-1"] = 1
    await shop.carts.put(user, lamp, 1)
    # The price changes between adding to the cart and checking out.
    snapshot = shop.products.products[lamp]
    shop.products.products[lamp] = type(snapshot)(
        **{**vars(snapshot), "price": 4500, "name": "Lamp XL"}
    )

    answer = await shop.checkout(user, uuid.uuid4())

    assert answer.body["items"][0]["unit_price"]["amount"] == 4500
    assert answer.body["items"][0]["name"] == "Lamp XL"
    assert answer.body["total"]["amount"] == 4500
    # Later price changes do not touch the order.
    shop.products.products[lamp] = type(snapshot)(**{**vars(snapshot), "price": 1})
    order = await shop.orders.view(Viewer(user), uuid.UUID(answer.body["id"]))
    assert order.total_amount == 4500


async def test_a_declined_card_fails_the_order_and_releases_the_stock(shop):
    user, card = uuid.uuid4(), uuid.uuid4()
    shop.cashier.declined.add(card)
    pen = shop.products.add("PEN-1", 300)
    shop.stock.on_hand["PEN-1"] = 4
    await shop.carts.put(user, pen, 3)

    answer = await shop.checkout(user, card)

    assert answer.status == 201
    assert answer.body["status"] == "failed"
    assert answer.body["failure"] == {
        "reason": "payment_declined",
        "detail": {"decline_code": "card_declined"},
    }
    assert shop.stock.available("PEN-1") == 4
    assert shop.stock.calls == ["reserve", "release"]
    assert len((await shop.carts.view(user)).items) == 1
    assert await shop.events(uuid.UUID(answer.body["id"])) == ["order.created", "order.failed"]


async def test_out_of_stock_fails_with_the_short_skus_and_holds_nothing(shop):
    user = uuid.uuid4()
    a, b = shop.products.add("A-1", 100), shop.products.add("B-1", 100)
    shop.stock.on_hand.update({"A-1": 5, "B-1": 1})
    await shop.carts.put(user, a, 2)
    await shop.carts.put(user, b, 3)

    answer = await shop.checkout(user, uuid.uuid4())

    assert answer.body["status"] == "failed"
    assert answer.body["failure"]["reason"] == "out_of_stock"
    assert answer.body["failure"]["detail"]["short"] == [
        {"sku": "B-1", "requested": 3, "available": 1}
    ]
    assert shop.stock.available("A-1") == 5
    assert shop.cashier.charges == {}


async def test_a_foreign_payment_method_fails_the_order_without_a_charge(shop):
    user, card = uuid.uuid4(), uuid.uuid4()
    shop.cashier.foreign.add(card)
    item = shop.products.add("X-1", 100)
    shop.stock.on_hand["X-1"] = 1
    await shop.carts.put(user, item, 1)

    answer = await shop.checkout(user, card)

    assert answer.body["status"] == "failed"
    assert answer.body["failure"]["reason"] == "payment_refused"
    assert shop.stock.available("X-1") == 1


async def test_the_same_key_replays_the_first_response_and_a_different_body_is_refused(shop):
    user, card = uuid.uuid4(), uuid.uuid4()
    item = shop.products.add("K-1", 100)
    shop.stock.on_hand["K-1"] = 10
    await shop.carts.put(user, item, 1)

    first = await shop.checkout(user, card, key="key-1")
    await shop.carts.put(user, item, 1)
    again = await shop.checkout(user, card, key="key-1")

    assert again.replayed
    assert (again.status, again.body) == (first.status, first.body)
    assert len(shop.cashier.charges) == 1
    with pytest.raises(ValidationFailed):
        await shop.checkout(user, uuid.uuid4(), key="key-1")
    # Keys belong to their user: another customer may use the same one.
    other = uuid.uuid4()
    await shop.carts.put(other, item, 1)
    assert (await shop.checkout(other, card, key="key-1")).replayed is False


async def test_a_key_whose_checkout_is_still_running_answers_409(shop):
    user, card = uuid.uuid4(), uuid.uuid4()
    item = shop.products.add("R-1", 100)
    shop.stock.on_hand["R-1"] = 10
    await shop.carts.put(user, item, 1)
    shop.stock.down = True  # the saga stops at its first step; the order stays pending

    first = await shop.checkout(user, card, key="slow-key")
    assert first.status == 202
    assert first.body["status"] == "pending"
    # A record without a response is a checkout still running (its request died).
    async with shop.database.sessionmaker() as session, session.begin():
        await session.execute(text("UPDATE checkout_requests SET response_status = NULL"))
    with pytest.raises(Conflict):
        await shop.checkout(user, card, key="slow-key")

    shop.stock.down = False
    order = await recover_until_settled(shop, uuid.UUID(first.body["id"]))
    assert order.status == "confirmed"
    replay = await shop.checkout(user, card, key="slow-key")
    assert replay.replayed
    assert (replay.status, replay.body["status"]) == (201, "confirmed")


async def test_a_payment_timeout_leaves_the_order_pending_until_recovery_resolves_it(shop):
    user, card = uuid.uuid4(), uuid.uuid4()
    shop.cashier.slow.add(card)
    item = shop.products.add("S-1", 700)
    shop.stock.on_hand["S-1"] = 2
    await shop.carts.put(user, item, 1)

    answer = await shop.checkout(user, card)

    assert answer.status == 202
    assert answer.body["status"] == "pending"
    order_id = uuid.UUID(answer.body["id"])
    await shop.saga.recover_once()
    assert (await shop.saga.load(order_id)).status == "pending"  # still processing

    shop.cashier.finish_slow_charges("succeeded")
    order = await recover_until_settled(shop, order_id)
    assert order.status == "confirmed"
    assert shop.stock.on_hand["S-1"] == 1
    assert await shop.events(order_id) == ["order.created", "order.confirmed"]


async def test_a_payment_timeout_that_ends_declined_is_compensated(shop):
    user, card = uuid.uuid4(), uuid.uuid4()
    shop.cashier.slow.add(card)
    item = shop.products.add("S-2", 700)
    shop.stock.on_hand["S-2"] = 2
    await shop.carts.put(user, item, 1)
    answer = await shop.checkout(user, card)
    shop.cashier.finish_slow_charges("declined")

    order = await recover_until_settled(shop, uuid.UUID(answer.body["id"]))

    assert order.status == "failed"
    assert shop.stock.available("S-2") == 2


async def test_an_order_pending_too_long_is_compensated_and_a_late_charge_refunded(shop):
    user, card = uuid.uuid4(), uuid.uuid4()
    shop.cashier.slow.add(card)
    item = shop.products.add("T-1", 900)
    shop.stock.on_hand["T-1"] = 1
    await shop.carts.put(user, item, 1)
    answer = await shop.checkout(user, card)
    order_id = uuid.UUID(answer.body["id"])
    async with shop.database.sessionmaker() as session, session.begin():
        await session.execute(
            text("UPDATE orders SET created_at = :t"), {"t": utcnow() - timedelta(hours=1)}
        )

    order = await recover_until(shop, order_id, lambda o: o.status != "pending")
    assert order.status == "failed"
    assert order.failure_reason == "timed_out"
    assert shop.stock.available("T-1") == 1
    assert order.step == "refund"  # the charge is still processing: wait for its verdict

    shop.cashier.finish_slow_charges("succeeded")
    order = await recover_until_settled(shop, order_id)
    assert order.step is None
    (charge,) = shop.cashier.charges.values()
    assert charge.refunded == charge.amount
    assert await shop.events(order_id) == ["order.created", "order.failed"]


async def test_cancelling_a_confirmed_order_returns_the_stock_and_refunds(shop):
    user, card = uuid.uuid4(), uuid.uuid4()
    item = shop.products.add("C-1", 1000)
    shop.stock.on_hand["C-1"] = 3
    await shop.carts.put(user, item, 2)
    answer = await shop.checkout(user, card)
    order_id = uuid.UUID(answer.body["id"])
    assert shop.stock.on_hand["C-1"] == 1

    cancelled = await shop.orders.cancel(Viewer(user), order_id)

    assert cancelled.status == "cancelled"
    assert shop.stock.on_hand["C-1"] == 3
    (charge,) = shop.cashier.charges.values()
    assert charge.refunded == 2000
    again = await shop.orders.cancel(Viewer(user), order_id)
    assert again.status == "cancelled"
    assert await shop.events(order_id) == ["order.created", "order.confirmed", "order.cancelled"]


async def test_only_confirmed_orders_can_be_cancelled_and_only_by_their_owner(shop):
    user, card = uuid.uuid4(), uuid.uuid4()
    shop.cashier.declined.add(card)
    item = shop.products.add("D-1", 1000)
    shop.stock.on_hand["D-1"] = 3
    await shop.carts.put(user, item, 1)
    order_id = uuid.UUID((await shop.checkout(user, card)).body["id"])

    with pytest.raises(Conflict):
        await shop.orders.cancel(Viewer(user), order_id)
    with pytest.raises(NotFound):
        await shop.orders.cancel(Viewer(uuid.uuid4()), order_id)
    with pytest.raises(NotFound):
        await shop.orders.view(Viewer(uuid.uuid4()), order_id)
    assert (await shop.orders.view(Viewer(None), order_id)).id == order_id


async def test_a_reservation_that_expired_before_commit_fails_the_order_and_refunds(shop):
    user, card = uuid.uuid4(), uuid.uuid4()
    item = shop.products.add("E-1", 1000)
    shop.stock.on_hand["E-1"] = 3
    await shop.carts.put(user, item, 1)
    shop.cashier.slow.add(card)
    answer = await shop.checkout(user, card)
    order_id = uuid.UUID(answer.body["id"])
    shop.stock.expire(order_id)
    shop.cashier.finish_slow_charges("succeeded")

    order = await recover_until_settled(shop, order_id)

    assert order.status == "failed"
    assert order.failure_reason == "reservation_expired"
    (charge,) = shop.cashier.charges.values()
    assert charge.refunded == charge.amount
    assert shop.stock.on_hand["E-1"] == 3


async def test_two_drivers_of_one_order_change_each_state_once(shop):
    user, card = uuid.uuid4(), uuid.uuid4()
    item = shop.products.add("F-1", 1000)
    shop.stock.on_hand["F-1"] = 3
    await shop.carts.put(user, item, 1)
    shop.stock.down = True
    answer = await shop.checkout(user, card)
    order_id = uuid.UUID(answer.body["id"])
    shop.stock.down = False

    results = await asyncio.gather(*(shop.saga.advance(order_id) for _ in range(5)))

    assert {o.status for o in results} == {"confirmed"}
    assert shop.stock.on_hand["F-1"] == 2
    assert len(shop.cashier.charges) == 1
    assert await shop.events(order_id) == ["order.created", "order.confirmed"]


async def test_an_empty_cart_or_an_unsellable_product_cannot_be_checked_out(shop):
    user = uuid.uuid4()
    with pytest.raises(ValidationFailed, match="empty"):
        await shop.checkout(user, uuid.uuid4())
    item = shop.products.add("G-1", 1000)
    await shop.carts.put(user, item, 1)
    snapshot = shop.products.products[item]
    shop.products.products[item] = type(snapshot)(**{**vars(snapshot), "active": False})
    with pytest.raises(ValidationFailed) as refused:
        await shop.checkout(user, uuid.uuid4())
    assert refused.value.extra["errors"][0]["loc"] == ["cart", str(item)]
    assert await shop.scalar("SELECT count(*) FROM orders") == 0


async def test_the_cart_refuses_unknown_and_inactive_products(shop):
    user = uuid.uuid4()
    with pytest.raises(NotFound):
        await shop.carts.put(user, uuid.uuid4(), 1)
    retired = shop.products.add("H-1", 100, active=False)
    with pytest.raises(ValidationFailed):
        await shop.carts.put(user, retired, 1)
    item = shop.products.add("H-2", 250)
    cart = await shop.carts.put(user, item, 4)
    assert cart.total.amount == 1000
    assert cart.items[0].line_total.amount == 1000
    cart = await shop.carts.put(user, item, 1)
    assert cart.total.amount == 250
    assert (await shop.carts.remove(user, item)).items == []


async def test_putting_more_of_a_product_in_the_cart_publishes_cart_item_added(shop):
    user = uuid.uuid4()
    item = shop.products.add("C-1", 300)

    await shop.carts.put(user, item, 2)
    await shop.carts.put(user, item, 1)  # fewer: nothing was added
    await shop.carts.put(user, item, 5)
    await shop.carts.remove(user, item)

    async with shop.database.sessionmaker() as session:
        rows = await session.execute(
            text("SELECT type, envelope FROM outbox WHERE subject = :s ORDER BY position"),
            {"s": str(user)},
        )
        published = [(t, e["data"]) for t, e in rows]
    assert published == [
        (
            "order.cart_item_added",
            {"user_id": str(user), "product_id": str(item), "quantity": 2, "added": 2},
        ),
        (
            "order.cart_item_added",
            {"user_id": str(user), "product_id": str(item), "quantity": 5, "added": 4},
        ),
    ]


async def test_a_refused_cart_line_publishes_nothing(shop):
    user = uuid.uuid4()
    with pytest.raises(NotFound):
        await shop.carts.put(user, uuid.uuid4(), 1)
    assert await shop.scalar("SELECT count(*) FROM outbox") == 0


async def test_an_unexpected_failure_inside_the_saga_answers_pending_and_recovery_finishes(shop):
    user, card = uuid.uuid4(), uuid.uuid4()
    item = shop.products.add("U-1", 100)
    shop.stock.on_hand["U-1"] = 1
    await shop.carts.put(user, item, 1)
    real_reserve = shop.stock.reserve

    async def broken(*args, **kwargs):
        raise RuntimeError("a bug, or a pool that ran dry")

    shop.stock.reserve = broken  # type: ignore[method-assign]
    answer = await shop.checkout(user, card)
    assert (answer.status, answer.body["status"]) == (202, "pending")

    shop.stock.reserve = real_reserve  # type: ignore[method-assign]
    order = await recover_until_settled(shop, uuid.UUID(answer.body["id"]))
    assert order.status == "confirmed"


def refunded(order, *, amount: int, total: int, charged: int | None) -> Event[PaymentRefunded]:
    """payment.refunded for the order's charge: ``amount`` now, ``total`` refunded in all."""
    payload = PaymentRefunded(
        refund_id=uuid.uuid4(),
        charge_id=order.charge_id,
        order_id=order.id,
        customer_id=order.user_id,
        amount=Money(amount=amount, currency="EUR"),
        status="succeeded",
        decline_code=None,
        refunded_total=Money(amount=total, currency="EUR"),
        charged=None if charged is None else Money(amount=charged, currency="EUR"),
    )
    data = payload.model_dump(mode="json")
    return Event(uuid.uuid4(), "payment.refunded", "payment", utcnow(), "c", data, payload)


@pytest.mark.parametrize("charged", [2000, None], ids=["charge-named", "charge-unnamed"])
async def test_only_a_refund_in_full_elsewhere_marks_a_confirmed_order_refunded(shop, charged):
    user = uuid.uuid4()
    item = shop.products.add("V-1", 1000)
    shop.stock.on_hand["V-1"] = 2
    await shop.carts.put(user, item, 2)
    order = await shop.saga.load(uuid.UUID((await shop.checkout(user, uuid.uuid4())).body["id"]))

    async def deliver(event: Event[PaymentRefunded]) -> str:
        async with shop.database.unit_of_work() as uow:
            await record_refund(event, uow)
            await uow.commit()
        return (await shop.saga.load(order.id)).status

    assert await deliver(refunded(order, amount=500, total=500, charged=charged)) == "confirmed"
    assert await deliver(refunded(order, amount=1500, total=2000, charged=charged)) == "refunded"
    assert await deliver(refunded(order, amount=0, total=2000, charged=charged)) == "refunded"
    assert await shop.events(order.id) == ["order.created", "order.confirmed", "order.refunded"]


async def test_the_refunds_of_a_cancellation_do_not_mark_the_order_refunded(shop):
    user = uuid.uuid4()
    item = shop.products.add("W-1", 1000)
    shop.stock.on_hand["W-1"] = 1
    await shop.carts.put(user, item, 1)
    order = await shop.saga.load(uuid.UUID((await shop.checkout(user, uuid.uuid4())).body["id"]))
    assert await shop.saga.request_cancellation(order)

    async with shop.database.unit_of_work() as uow:
        await record_refund(refunded(order, amount=1000, total=1000, charged=1000), uow)
        await uow.commit()

    assert (await shop.orders.cancel(Viewer(user), order.id)).status == "cancelled"
    assert await shop.events(order.id) == ["order.created", "order.confirmed", "order.cancelled"]
