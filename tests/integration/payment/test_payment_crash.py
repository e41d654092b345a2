"""payment as a real process, SIGKILLed mid-charge: no charge is lost or made twice."""

from __future__ import annotations

import asyncio
import signal
import uuid

import httpx
import jwt
import pytest

from tests.conftest import Harness
from tests.integration.accounts import customer, service

PAYMENTS = "/api/v1/payments"


@pytest.mark.parametrize("point", ["payment.before_processor", "payment.after_processor"])
async def test_a_charge_interrupted_by_a_crash_is_settled_once_after_restart(
    harness: Harness, point: str
):
    auth = await harness.start("auth")
    order = await service(auth, "order")
    ada = await customer(auth, "ada@example.com")
    ada_id = jwt.decode(
        ada["Authorization"].removeprefix("Bearer "), options={"verify_signature": False}
    )["sub"]
    payment = await harness.spawn(
        "payment",
        faults=point,
        charge_recovery_after_seconds=1.0,
        recovery_interval_seconds=0.2,
    )
    method = (
        await payment.client.post(
            f"{PAYMENTS}/methods",
            json={
                "card_number": "4242424242424242",
                "exp_month": 1,
                "exp_year": 2035,
                "cvc": "123",
            },
            headers=ada,
        )
    ).json()
    body = {
        "order_id": str(uuid.uuid4()),
        "amount": {"amount": 2500, "currency": "EUR"},
        "payment_method_id": method["id"],
        "customer_id": ada_id,
    }
    headers = {**order, "Idempotency-Key": "crash-1"}

    with pytest.raises(httpx.HTTPError):
        await payment.client.post(f"{PAYMENTS}/charges", json=body, headers=headers)
    assert await payment.wait_exit() == -signal.SIGKILL

    restarted = await harness.spawn("payment", payment.settings)
    for _ in range(100):
        answer = await restarted.client.post(f"{PAYMENTS}/charges", json=body, headers=headers)
        if answer.status_code != 409:
            break
        await asyncio.sleep(0.2)
    assert answer.status_code == 201, answer.text
    assert answer.json()["status"] == "succeeded"
    listed = await restarted.client.get(
        f"{PAYMENTS}/charges", params={"order_id": body["order_id"]}, headers=order
    )
    assert [c["id"] for c in listed.json()["items"]] == [answer.json()["id"]]
    assert "fault point" in payment.log()
