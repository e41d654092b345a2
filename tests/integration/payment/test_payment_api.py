"""payment against real PostgreSQL and NATS, with a real auth beside it."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import jwt
import pytest
from sqlalchemy import text

from mercato.platform.db import utcnow
from tests.conftest import Harness, RunningService
from tests.integration.accounts import (
    admin,
    customer,
    scalar,
    service,
    signed_service_token,
    wait_for,
)

PAYMENTS = "/api/v1/payments"
VISA_OK = "4242424242424242"
DECLINED = "4000000000000002"
NO_FUNDS = "4000000000009995"
SLOW = "4000000000000259"


def eur(amount: int) -> dict[str, object]:
    return {"amount": amount, "currency": "EUR"}


@pytest.fixture
async def shop(harness: Harness):
    auth = await harness.start("auth")
    payment = await harness.start(
        "payment", sandbox_slow_seconds=1.0, charge_recovery_after_seconds=3600
    )
    return auth, payment, await service(auth, "order")


async def add_card(payment: RunningService, headers, number: str = VISA_OK, **fields) -> dict:
    body = {"card_number": number, "exp_month": 12, "exp_year": 2035, "cvc": "123", **fields}
    added = await payment.client.post(f"{PAYMENTS}/methods", json=body, headers=headers)
    assert added.status_code == 201, added.text
    return added.json()


async def charge(
    payment, order_token, method, customer_id, *, key=None, amount=1000, order_id=None
):
    return await payment.client.post(
        f"{PAYMENTS}/charges",
        json={
            "order_id": order_id or str(uuid.uuid4()),
            "amount": eur(amount),
            "payment_method_id": method["id"],
            "customer_id": customer_id,
        },
        headers={**order_token, "Idempotency-Key": key or uuid.uuid4().hex},
    )


async def me(auth, headers) -> str:
    """The user id inside a customer's token."""
    token = headers["Authorization"].removeprefix("Bearer ")
    return str(jwt.decode(token, options={"verify_signature": False})["sub"])


async def test_a_card_is_kept_as_brand_last4_and_expiry(shop):
    auth, payment, _ = shop
    ada = await customer(auth, "ada@example.com")
    method = await add_card(payment, ada, "4242 4242 4242 4242", exp_month=7, exp_year=2031)
    assert method["brand"] == "visa"
    assert method["last4"] == "4242"
    assert (method["exp_month"], method["exp_year"]) == (7, 2031)
    assert set(method) == {"id", "brand", "last4", "exp_month", "exp_year", "created_at"}
    mine = await payment.client.get(f"{PAYMENTS}/methods", headers=ada)
    assert [m["id"] for m in mine.json()["items"]] == [method["id"]]
    bob = await customer(auth, "bob@example.com")
    assert (await payment.client.get(f"{PAYMENTS}/methods", headers=bob)).json()["items"] == []


@pytest.mark.parametrize(
    ("fields", "complaint"),
    [
        ({"card_number": "4242424242424241"}, "checksum"),
        ({"card_number": "4242-4242"}, "at least 12"),
        ({"card_number": "4242abcd42424242"}, "digits"),
        ({"exp_year": 2020}, "expired"),
        ({"exp_month": 13}, "less than or equal to 12"),
        ({"cvc": "12"}, "at least 3"),
        ({"cvc": "1234"}, "3-digit"),
        ({"card_number": "378282246310005", "cvc": "123"}, "4-digit"),
    ],
)
async def test_invalid_cards_are_refused_with_422(shop, fields, complaint):
    auth, payment, _ = shop
    ada = await customer(auth, "ada@example.com")
    body = {"card_number": VISA_OK, "exp_month": 12, "exp_year": 2035, "cvc": "123", **fields}
    refused = await payment.client.post(f"{PAYMENTS}/methods", json=body, headers=ada)
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert complaint in str(refused.json()["errors"])


async def test_the_sandbox_cards_succeed_decline_or_lack_funds(shop):
    auth, payment, order = shop
    ada = await customer(auth, "ada@example.com")
    ada_id = await me(auth, ada)
    outcomes = {}
    for number in (VISA_OK, DECLINED, NO_FUNDS, "5555555555554444"):
        method = await add_card(payment, ada, number)
        done = await charge(payment, order, method, ada_id)
        assert done.status_code == 201, done.text
        outcomes[number] = (done.json()["status"], done.json()["decline_code"])
    assert outcomes == {
        VISA_OK: ("succeeded", None),
        DECLINED: ("declined", "card_declined"),
        NO_FUNDS: ("declined", "insufficient_funds"),
        "5555555555554444": ("succeeded", None),
    }
    events = await scalar(payment, "SELECT string_agg(type, ',' ORDER BY position) FROM outbox")
    assert events.split(",") == [
        "payment.succeeded",
        "payment.declined",
        "payment.declined",
        "payment.succeeded",
    ]


async def test_the_slow_card_answers_late_but_succeeds(shop):
    auth, payment, order = shop
    ada = await customer(auth, "ada@example.com")
    method = await add_card(payment, ada, SLOW)
    done = await charge(payment, order, method, await me(auth, ada))
    assert done.json()["status"] == "succeeded"


async def test_the_same_key_and_body_replays_the_charge_and_a_different_body_is_refused(shop):
    auth, payment, order = shop
    ada = await customer(auth, "ada@example.com")
    ada_id = await me(auth, ada)
    method = await add_card(payment, ada)
    order_id = str(uuid.uuid4())
    first = await charge(payment, order, method, ada_id, key="k1", order_id=order_id)
    again = await charge(payment, order, method, ada_id, key="k1", order_id=order_id)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers

    changed = await charge(payment, order, method, ada_id, key="k1", order_id=order_id, amount=5)
    assert changed.status_code == 422
    assert changed.json()["type"].endswith("/idempotency-key-reused")
    assert await scalar(payment, "SELECT count(*) FROM sandbox_charges") == 1


async def test_concurrent_requests_with_one_key_make_one_charge(shop):
    auth, payment, order = shop
    ada = await customer(auth, "ada@example.com")
    ada_id = await me(auth, ada)
    method = await add_card(payment, ada, SLOW)  # one second: the others arrive meanwhile
    order_id = str(uuid.uuid4())

    answers = await asyncio.gather(
        *(charge(payment, order, method, ada_id, key="same", order_id=order_id) for _ in range(20))
    )

    statuses = sorted(a.status_code for a in answers)
    assert set(statuses) <= {201, 409}
    fresh = [a for a in answers if a.status_code == 201 and "idempotent-replayed" not in a.headers]
    assert len(fresh) == 1
    assert {a.json()["id"] for a in answers if a.status_code == 201} == {fresh[0].json()["id"]}
    assert await scalar(payment, "SELECT count(*) FROM charges") == 1
    assert await scalar(payment, "SELECT count(*) FROM sandbox_charges") == 1
    in_progress = next((a for a in answers if a.status_code == 409), None)
    if in_progress is not None:
        assert in_progress.json()["type"].endswith("/charge-in-progress")


async def test_a_missing_idempotency_key_is_400(shop):
    auth, payment, order = shop
    ada = await customer(auth, "ada@example.com")
    method = await add_card(payment, ada)
    refused = await payment.client.post(
        f"{PAYMENTS}/charges",
        json={
            "order_id": str(uuid.uuid4()),
            "amount": eur(100),
            "payment_method_id": method["id"],
            "customer_id": await me(auth, ada),
        },
        headers=order,
    )
    assert refused.status_code == 400


async def test_a_charge_on_someone_elses_card_or_in_another_currency_is_422(shop):
    auth, payment, order = shop
    ada = await customer(auth, "ada@example.com")
    bob = await customer(auth, "bob@example.com")
    adas_card = await add_card(payment, ada)
    stolen = await charge(payment, order, adas_card, await me(auth, bob))
    assert stolen.status_code == 422
    dollars = await payment.client.post(
        f"{PAYMENTS}/charges",
        json={
            "order_id": str(uuid.uuid4()),
            "amount": {"amount": 100, "currency": "USD"},
            "payment_method_id": adas_card["id"],
            "customer_id": await me(auth, ada),
        },
        headers={**order, "Idempotency-Key": "usd"},
    )
    assert dollars.status_code == 422
    for amount in (0, -5):
        assert (
            await charge(payment, order, adas_card, await me(auth, ada), amount=amount)
        ).status_code == 422
    assert await scalar(payment, "SELECT count(*) FROM charges") == 0


async def test_refunds_are_partial_or_full_and_never_above_the_charge(shop):
    auth, payment, order = shop
    ada = await customer(auth, "ada@example.com")
    method = await add_card(payment, ada)
    done = (await charge(payment, order, method, await me(auth, ada), amount=1000)).json()
    refunds = f"{PAYMENTS}/charges/{done['id']}/refunds"

    too_much = await payment.client.post(refunds, json={"amount": eur(1001)}, headers=order)
    assert too_much.status_code == 422
    part = await payment.client.post(refunds, json={"amount": eur(300)}, headers=order)
    assert part.status_code == 201, part.text
    assert part.json()["amount"] == eur(300)
    over = await payment.client.post(refunds, json={"amount": eur(701)}, headers=order)
    assert over.status_code == 422
    rest = await payment.client.post(refunds, json={}, headers=order)
    assert rest.json()["amount"] == eur(700)
    nothing_left = await payment.client.post(refunds, json={}, headers=order)
    assert nothing_left.status_code == 422
    for amount in (0, -1):
        bad = await payment.client.post(refunds, json={"amount": eur(amount)}, headers=order)
        assert bad.status_code == 422
    seen = (await payment.client.get(f"{PAYMENTS}/charges/{done['id']}", headers=order)).json()
    assert seen["refunded"] == eur(1000)
    assert await scalar(payment, "SELECT sum(amount) FROM sandbox_refunds") == 1000
    assert await scalar(payment, "SELECT count(*) FROM outbox WHERE type = 'payment.refunded'") == 2


async def test_concurrent_refunds_together_never_exceed_the_charge(shop):
    auth, payment, order = shop
    root = await admin(auth)
    ada = await customer(auth, "ada@example.com")
    method = await add_card(payment, ada)
    done = (await charge(payment, order, method, await me(auth, ada), amount=100)).json()

    answers = await asyncio.gather(
        *(
            payment.client.post(
                f"{PAYMENTS}/charges/{done['id']}/refunds", json={"amount": eur(30)}, headers=root
            )
            for _ in range(10)
        )
    )

    assert sorted(a.status_code for a in answers) == [201] * 3 + [422] * 7
    assert await scalar(payment, "SELECT refunded_amount FROM charges") == 90


async def test_declined_charges_cannot_be_refunded(shop):
    auth, payment, order = shop
    ada = await customer(auth, "ada@example.com")
    method = await add_card(payment, ada, DECLINED)
    done = (await charge(payment, order, method, await me(auth, ada))).json()
    refused = await payment.client.post(
        f"{PAYMENTS}/charges/{done['id']}/refunds", json={}, headers=order
    )
    assert refused.status_code == 422


async def test_owners_see_their_charges_admins_all_and_others_nothing(shop):
    auth, payment, order = shop
    root = await admin(auth)
    ada = await customer(auth, "ada@example.com")
    bob = await customer(auth, "bob@example.com")
    adas = (await charge(payment, order, await add_card(payment, ada), await me(auth, ada))).json()
    bobs = (await charge(payment, order, await add_card(payment, bob), await me(auth, bob))).json()

    own = await payment.client.get(f"{PAYMENTS}/charges", headers=ada)
    assert [c["id"] for c in own.json()["items"]] == [adas["id"]]
    assert (
        await payment.client.get(f"{PAYMENTS}/charges/{adas['id']}", headers=ada)
    ).status_code == 200
    assert (
        await payment.client.get(f"{PAYMENTS}/charges/{bobs['id']}", headers=ada)
    ).status_code == 404
    everyone = await payment.client.get(f"{PAYMENTS}/charges", headers=root)
    assert {c["id"] for c in everyone.json()["items"]} == {adas["id"], bobs["id"]}
    by_order = await payment.client.get(
        f"{PAYMENTS}/charges", params={"order_id": bobs["order_id"]}, headers=order
    )
    assert [c["id"] for c in by_order.json()["items"]] == [bobs["id"]]
    assert (
        await payment.client.get(f"{PAYMENTS}/charges/{uuid.uuid4()}", headers=root)
    ).status_code == 404


async def test_customers_may_not_charge_or_refund_and_other_services_may_not_read(shop, harness):
    auth, payment, order = shop
    ada = await customer(auth, "ada@example.com")
    method = await add_card(payment, ada)
    done = (await charge(payment, order, method, await me(auth, ada))).json()
    body = {
        "order_id": str(uuid.uuid4()),
        "amount": eur(100),
        "payment_method_id": method["id"],
        "customer_id": await me(auth, ada),
    }
    as_customer = await payment.client.post(
        f"{PAYMENTS}/charges", json=body, headers={**ada, "Idempotency-Key": "x"}
    )
    assert as_customer.status_code == 403
    anonymous = await payment.client.post(
        f"{PAYMENTS}/charges", json=body, headers={"Idempotency-Key": "x"}
    )
    assert anonymous.status_code == 401
    refund = await payment.client.post(
        f"{PAYMENTS}/charges/{done['id']}/refunds", json={}, headers=ada
    )
    assert refund.status_code == 403
    # user is a catalog service, but not one that may call payment.
    stranger = signed_service_token(auth, "user")
    assert (await payment.client.get(f"{PAYMENTS}/charges", headers=stranger)).status_code == 403
    as_user_service = await payment.client.post(
        f"{PAYMENTS}/charges", json=body, headers={**stranger, "Idempotency-Key": "y"}
    )
    assert as_user_service.status_code == 403
    adds_card = await payment.client.post(
        f"{PAYMENTS}/methods",
        json={"card_number": VISA_OK, "exp_month": 1, "exp_year": 2035, "cvc": "123"},
        headers=order,
    )
    assert adds_card.status_code == 403


async def test_a_charge_interrupted_before_the_processor_is_resolved_by_recovery(shop):
    auth, payment, _ = shop
    ada = await customer(auth, "ada@example.com")
    ada_id = await me(auth, ada)
    method = await add_card(payment, ada)
    # The state a crash leaves behind: the charge committed as processing, the processor
    # never asked (the SIGKILL variants run in tests/integration/commerce/test_crash_recovery.py).
    database = payment.app.state.platform.database
    charge_id = uuid.uuid4()
    async with database.sessionmaker() as session, session.begin():
        await session.execute(
            text(
                "INSERT INTO charges (id, principal, idempotency_key, request_hash, order_id,"
                " customer_id, payment_method_id, amount, currency, status, refunded_amount,"
                " created_at, updated_at) VALUES (:id, 'service:order', 'crashed', 'x', :order,"
                " :customer, :method, 500, 'EUR', 'processing', 0, :then, :then)"
            ),
            {
                "id": charge_id,
                "order": uuid.uuid4(),
                "customer": uuid.UUID(ada_id),
                "method": uuid.UUID(method["id"]),
                "then": utcnow() - timedelta(hours=2),
            },
        )
    payments = payment.app.state.payments
    assert await payments.recover_once() == 1
    assert await payments.recover_once() == 0
    assert (
        await scalar(payment, "SELECT status FROM charges WHERE id = :i", i=charge_id)
        == "succeeded"
    )
    assert await scalar(payment, "SELECT count(*) FROM sandbox_charges") == 1
    assert (
        await wait_for(payment, "SELECT count(*) FROM outbox WHERE type = 'payment.succeeded'", 1)
        == 1
    )
