"""The chassis' shared vocabulary: bodies, addresses, cursors and app-state dependencies."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from types import SimpleNamespace

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel, ValidationError

from mercato.platform.deps import Provided
from mercato.platform.pagination import (
    InvalidCursor,
    PageRequest,
    created_before,
    decode_cursor,
    encode_cursor,
    newest_first,
)
from mercato.platform.schemas import Amount, City, Country, Strict


class Parcel(Strict):
    city: City
    country: Country


def test_a_strict_body_refuses_unknown_fields_and_trims_text():
    assert Parcel(city="  Lyon ", country="fr").city == "Lyon"
    with pytest.raises(ValidationError):
        Parcel.model_validate({"city": "Lyon", "country": "FR", "planet": "Earth"})


def test_a_country_is_two_letters_stored_upper_case():
    assert Parcel(city="Lyon", country="fr").country == "FR"
    for wrong in ("FRA", "F", "1A"):
        with pytest.raises(ValidationError):
            Parcel(city="Lyon", country=wrong)


def test_an_amount_in_a_request_is_positive_in_an_upper_case_currency():
    assert Amount(amount=1, currency="EUR").amount == 1
    for amount, currency in ((0, "EUR"), (10**12 + 1, "EUR"), (5, "eur")):
        with pytest.raises(ValidationError):
            Amount(amount=amount, currency=currency)


def test_the_newest_first_sort_key_round_trips_through_a_cursor():
    row = SimpleNamespace(created_at=datetime(2026, 12, 1, 10, tzinfo=UTC), id=uuid.uuid4())
    cursor = encode_cursor(*newest_first(row))
    request = PageRequest(limit=20, after=decode_cursor(cursor))
    assert created_before(request) == (row.created_at, row.id)
    assert created_before(PageRequest(limit=20, after=None)) is None


@pytest.mark.parametrize(
    "forged", [["2026-12-01T10:00:00+00:00"], ["yesterday", str(uuid.uuid4())], [1, 2]]
)
def test_a_forged_newest_first_cursor_is_refused(forged):
    with pytest.raises(InvalidCursor):
        created_before(PageRequest(limit=20, after=forged))


class Shelf:
    def __init__(self, name: str) -> None:
        self.name = name


class Answer(BaseModel):
    shelf: str


async def test_a_route_gets_the_object_of_its_type_the_app_provides():
    app = FastAPI()

    @app.get("/shelf")
    async def shelf(found: Provided[Shelf]) -> Answer:
        return Answer(shelf=found.name)

    app.state.something_else = "not a shelf"
    app.state.shelf = Shelf("top")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        assert (await client.get("/shelf")).json() == {"shelf": "top"}
