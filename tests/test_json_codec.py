"""JsonCodec: what each Python type becomes in the store, and what reading it gives back."""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import functools
import json
import math
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pgeventstore import EventStore, JsonCodec, NewEvent, json_default


class Color(enum.Enum):
    RED = "red"
    BLUE = 2


class Size(enum.IntEnum):
    SMALL = 1


@dataclasses.dataclass(frozen=True)
class Line:
    sku: str
    price: decimal.Decimal


@dataclasses.dataclass(frozen=True)
class Order:
    id: uuid.UUID
    lines: list[Line]
    placed_at: datetime.datetime
    color: Color


@pytest.fixture
def store(dsn: str) -> Iterator[EventStore]:
    with EventStore(dsn) as s:
        yield s


def round_trip(store: EventStore, data: Any) -> Any:
    result = store.append("json-1", [NewEvent("T", data)])
    (event,) = store.read_stream("json-1", from_version=result.stream_version)
    return event.data


def test_documented_conversions_through_the_database(store: EventStore) -> None:
    order_id = uuid.UUID("12345678-1234-5678-1234-567812345678")
    placed = datetime.datetime(
        2026, 1, 2, 3, 4, 5, 600000, tzinfo=datetime.timezone(datetime.timedelta(hours=2))
    )
    order = Order(order_id, [Line("A-1", decimal.Decimal("12.30"))], placed, Color.RED)
    assert round_trip(store, order) == {
        "id": "12345678-1234-5678-1234-567812345678",
        "lines": [{"sku": "A-1", "price": "12.30"}],
        "placed_at": "2026-01-02T03:04:05.600000+02:00",
        "color": "red",
    }
    back = round_trip(store, {"naive": datetime.datetime(2026, 1, 2), "day": datetime.date(2026, 1, 2)})
    assert back == {"naive": "2026-01-02T00:00:00", "day": "2026-01-02"}
    assert round_trip(store, {"t": datetime.time(13, 5)}) == {"t": "13:05:00"}
    assert round_trip(store, [Color.BLUE, Size.SMALL, (1, 2), {3, 1, 2}]) == [2, 1, [1, 2], [1, 2, 3]]
    assert round_trip(store, {"text": "ünïcode ✓"}) == {"text": "ünïcode ✓"}


def test_restoring_the_documented_types(store: EventStore) -> None:
    placed = datetime.datetime(2026, 1, 2, tzinfo=datetime.UTC)
    back = round_trip(store, {"at": placed, "amount": decimal.Decimal("0.10"), "id": uuid.UUID(int=7)})
    assert datetime.datetime.fromisoformat(back["at"]) == placed
    assert decimal.Decimal(back["amount"]) == decimal.Decimal("0.10")
    assert uuid.UUID(back["id"]) == uuid.UUID(int=7)


def test_numbers_keep_their_digits_with_a_decimal_loads(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "select eventstore.append_to_stream('json-1', -1, "
            """'[{"type": "T", "data": {"x": 0.1, "big": 12345678901234567890.123}}]')"""
        )
    loads = functools.partial(json.loads, parse_float=decimal.Decimal)
    with EventStore(dsn, loads=loads) as store:
        (event,) = store.read_stream("json-1")
    assert event.data == {"x": decimal.Decimal("0.1"), "big": decimal.Decimal("12345678901234567890.123")}


def test_unknown_types_nan_and_infinity_fail_before_the_database() -> None:
    codec = JsonCodec()
    with pytest.raises(TypeError, match="cannot store a object"):
        codec.dumps(object())
    for value in (math.nan, math.inf, -math.inf):
        with pytest.raises(ValueError):
            codec.dumps({"x": value})


def test_default_hook_runs_first_and_passes_on_what_it_does_not_know() -> None:
    def default(value: Any) -> Any:
        if isinstance(value, decimal.Decimal):
            return float(value)
        if isinstance(value, complex):
            return [value.real, value.imag]
        raise TypeError

    codec = JsonCodec(default=default)
    text = codec.dumps({"d": decimal.Decimal("1.5"), "c": 1 + 2j, "u": uuid.UUID(int=0)})
    assert json.loads(text) == {"d": 1.5, "c": [1.0, 2.0], "u": "00000000-0000-0000-0000-000000000000"}


def test_dumps_and_loads_replace_the_standard_library() -> None:
    codec = JsonCodec(dumps=lambda value: "[1]", loads=lambda text: ("mine", text))
    assert codec.dumps({"anything": object()}) == "[1]"
    assert codec.loads("{}") == ("mine", "{}")
    assert codec.load_optional(None) is None


def test_json_default_rejects_a_dataclass_class() -> None:
    with pytest.raises(TypeError):
        json_default(Line)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


@given(json_values)
def test_plain_json_values_come_back_equal(value: Any) -> None:
    codec = JsonCodec()
    assert codec.loads(codec.dumps(value)) == value
