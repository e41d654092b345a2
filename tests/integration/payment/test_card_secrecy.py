"""The full card number and the CVC are never stored and never logged.

After adding cards, failing validation with the number in the body, charging and
refunding, every row of every table of payment's database is dumped as text and
searched, and so is every log line the process wrote meanwhile (SQL statements and
their parameters included: the capture runs at DEBUG).
"""

from __future__ import annotations

import logging
import re
import uuid

import jwt
import pytest
from sqlalchemy import text

from mercato.platform.logging import JsonFormatter
from tests.chassis import captured_logs
from tests.conftest import Harness
from tests.integration.accounts import customer, service

PAYMENTS = "/api/v1/payments"
# An Amex test number (unknown to the sandbox, so it succeeds) with a 4-digit CVC, and
# the sandbox's Visa with a CVC of its own.
AMEX, AMEX_CVC = "378282246310005", "7391"
VISA, VISA_CVC = "4242424242424242", "846"
# A leaked CVC would stand as a number of its own; hex and dashes around it mean a UUID.
AMEX_CVC_ALONE = re.compile(rf"(?<![0-9a-fA-F-]){AMEX_CVC}(?![0-9a-fA-F-])")


def secrets_in(blob: str) -> list[str]:
    found = [n for n in (AMEX, VISA, "3782 822463 10005") if n in blob]
    if AMEX_CVC_ALONE.search(blob):
        found.append("amex cvc")
    if re.search(rf'"?cvc"?\s*[:=]\s*"?{VISA_CVC}', blob):
        found.append("visa cvc")
    return found


@pytest.fixture
def every_log_line():
    with captured_logs("", JsonFormatter("payment")) as captured:
        yield captured.lines


async def test_card_numbers_and_cvcs_are_neither_stored_nor_logged(
    harness: Harness, every_log_line
):
    logging.getLogger("sqlalchemy.engine").setLevel(logging.INFO)  # log SQL and parameters
    try:
        auth = await harness.start("auth")
        payment = await harness.start("payment")
        order = await service(auth, "order")
        ada = await customer(auth, "ada@example.com")
        ada_id = jwt.decode(
            ada["Authorization"].removeprefix("Bearer "), options={"verify_signature": False}
        )["sub"]
        responses = []

        # Validation failures with the number in the body: not echoed, not logged.
        for body in (
            {"card_number": "378282246310006", "exp_month": 1, "exp_year": 2035, "cvc": AMEX_CVC},
            {"card_number": AMEX, "exp_month": 1, "exp_year": 2020, "cvc": AMEX_CVC},
            {"card_number": AMEX, "exp_month": 1, "exp_year": 2035, "cvc": "739"},
            {"card_number": VISA, "exp_month": 1, "exp_year": 2035, "cvc": VISA_CVC, "x": VISA},
            {"card_number": int(VISA), "exp_month": 1, "exp_year": 2035, "cvc": VISA_CVC},
        ):
            refused = await payment.client.post(f"{PAYMENTS}/methods", json=body, headers=ada)
            assert refused.status_code == 422, refused.text
            responses.append(refused.text)

        methods = []
        for number, cvc in (("3782 822463 10005", AMEX_CVC), (VISA, VISA_CVC)):
            added = await payment.client.post(
                f"{PAYMENTS}/methods",
                json={"card_number": number, "exp_month": 9, "exp_year": 2034, "cvc": cvc},
                headers=ada,
            )
            assert added.status_code == 201, added.text
            responses.append(added.text)
            methods.append(added.json())
        for method in methods:
            charged = await payment.client.post(
                f"{PAYMENTS}/charges",
                json={
                    "order_id": str(uuid.uuid4()),
                    "amount": {"amount": 4321, "currency": "EUR"},
                    "payment_method_id": method["id"],
                    "customer_id": ada_id,
                },
                headers={**order, "Idempotency-Key": method["id"]},
            )
            assert charged.json()["status"] == "succeeded", charged.text
            refunded = await payment.client.post(
                f"{PAYMENTS}/charges/{charged.json()['id']}/refunds", json={}, headers=order
            )
            assert refunded.status_code == 201
            responses.extend([charged.text, refunded.text])
        listed = await payment.client.get(f"{PAYMENTS}/methods", headers=ada)
        responses.append(listed.text)

        database = payment.app.state.platform.database
        async with database.sessionmaker() as session:
            tables = (
                await session.scalars(
                    text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
                )
            ).all()
            assert {"payment_methods", "charges", "sandbox_cards", "outbox"} <= set(tables)
            dump = {}
            for table in tables:
                rows = await session.scalars(text(f'SELECT t::text FROM "{table}" t'))  # noqa: S608
                dump[table] = "\n".join(rows.all())
    finally:
        logging.getLogger("sqlalchemy.engine").setLevel(logging.NOTSET)

    assert "4242" in dump["payment_methods"]  # the search does see what is stored
    assert any("INSERT INTO payment_methods" in line for line in every_log_line)
    leaks = {table: secrets_in(rows) for table, rows in dump.items() if secrets_in(rows)}
    assert leaks == {}
    assert [r for r in responses if secrets_in(r)] == []
    assert [line for line in every_log_line if secrets_in(line)] == []
