"""Values the call's SQL types cannot hold at all.

PostgreSQL refuses them while it converts the arguments, before any function of the store
runs, with its own SQLSTATE (class 22, data exception). The Python package raises
InvalidArgument for them, as for the store's own ES400, with PostgreSQL's code as its
``sqlstate``; the JSON inputs that ``jsonb`` cannot store are listed with their codes in
docs/operations.md ("Limits"), which the last tests hold to what PostgreSQL does.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
import pytest_asyncio

from pgeventstore import AsyncEventStore, EventStore, InvalidArgument, NewEvent
from pgeventstore.codec import exact_dumps, exact_loads

OPERATIONS = Path(__file__).resolve().parent.parent / "docs" / "operations.md"


@pytest.fixture
def store(dsn: str) -> Iterator[EventStore]:
    with EventStore(dsn) as s:
        s.append("order-1", [NewEvent("Placed", {})], -1)
        yield s


def written(store: EventStore) -> tuple[int, int]:
    """How many events and snapshots are stored."""
    with store.connection() as conn:
        row = conn.execute(
            "select (select count(*) from eventstore.events), (select count(*) from eventstore.snapshots)"
        ).fetchone()
    assert row is not None
    return (row[0], row[1])


CASES: dict[str, tuple[Callable[[EventStore], Any], str]] = {
    "append: expected version 2**63": (
        lambda s: s.append("order-1", [NewEvent("Paid", {})], 2**63),
        "22003",
    ),
    "append_event: expected version -2**63 - 1": (
        lambda s: s.append_event("order-1", NewEvent("Paid", {}), -(2**63) - 1),
        "22003",
    ),
    "append_event: an id that is no uuid": (
        lambda s: s.append_event("order-1", NewEvent("Paid", {}, id="not-a-uuid"), 0),  # type: ignore[arg-type]
        "22P02",
    ),
    "append: data with \\u0000": (
        lambda s: s.append("order-1", [NewEvent("Paid", {"note": "a\x00b"})], 0),
        "22P05",
    ),
    "append: a stream id with NUL": (
        lambda s: s.append("order\x00-2", [NewEvent("Placed", {})], -1),
        "",
    ),
    "read_stream: limit 2**31": (lambda s: s.read_stream("order-1", limit=2**31), "22003"),
    "read_stream: from version 2**63": (lambda s: s.read_stream("order-1", from_version=2**63), "22003"),
    "list_streams: limit 2**31": (lambda s: s.list_streams(limit=2**31), "22003"),
    "save_snapshot: version 2**63": (lambda s: s.save_snapshot("order-1", 2**63, {}), "22003"),
    "save_snapshot: schema version 2**31": (
        lambda s: s.save_snapshot("order-1", 0, {}, schema_version=2**31),
        "22003",
    ),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_a_value_beyond_its_sql_type_is_invalid_argument(store: EventStore, case: str) -> None:
    call, sqlstate = CASES[case]
    before = written(store)
    with pytest.raises(InvalidArgument) as raised:
        call(store)
    assert raised.value.sqlstate == sqlstate
    assert raised.value.message
    assert raised.value.hint
    assert isinstance(raised.value.__cause__, psycopg.DataError)
    assert written(store) == before


def test_a_json_number_beyond_numeric_is_invalid_argument(dsn: str) -> None:
    with EventStore(dsn, dumps=exact_dumps, loads=exact_loads) as exact:
        with pytest.raises(InvalidArgument) as raised:
            exact.append("order-9", [NewEvent("Paid", {"total": Decimal("1e1000000")})], -1)
        assert raised.value.sqlstate == "22003"
        assert exact.stream_version("order-9") == -1


def test_the_stores_own_rules_keep_es400(store: EventStore) -> None:
    with pytest.raises(InvalidArgument) as raised:
        store.append("order-1", [NewEvent("Paid", {}, id=uuid.uuid4())], -3)
    assert raised.value.sqlstate == "ES400"


def test_other_errors_stay_psycopgs(store: EventStore) -> None:
    with store.connection() as conn:
        conn.execute("drop function eventstore.stream_version(text)")
    with pytest.raises(psycopg.errors.UndefinedFunction):
        store.stream_version("order-1")


@pytest_asyncio.fixture
async def async_store(dsn: str) -> AsyncIterator[AsyncEventStore]:
    async with AsyncEventStore(dsn) as s:
        await s.append("order-1", [NewEvent("Placed", {})], -1)
        yield s


@pytest.mark.asyncio
async def test_the_async_store_maps_them_the_same(async_store: AsyncEventStore) -> None:
    with pytest.raises(InvalidArgument) as raised:
        await async_store.append("order-1", [NewEvent("Paid", {})], 2**63)
    assert raised.value.sqlstate == "22003"
    with pytest.raises(InvalidArgument) as raised:
        await async_store.append_event("order-1", NewEvent("Paid", {}, id="x"), 0)  # type: ignore[arg-type]
    assert raised.value.sqlstate == "22P02"


# JSON that jsonb cannot store, as docs/operations.md lists it: the example, its SQLSTATE.
JSON_INPUTS = {
    "\\u0000": ('[{"type": "A", "data": "a\\u0000b"}]', "22P05"),
    "NaN": ('[{"type": "A", "data": NaN}]', "22P02"),
    "Infinity": ('[{"type": "A", "data": Infinity}]', "22P02"),
    "1e1000000": ('[{"type": "A", "data": 1e1000000}]', "22003"),
    "nesting": ('[{"type": "A", "data": ' + "[" * 200000 + "]" * 200000 + "}]", "54001"),
}


def documented_json_inputs() -> str:
    """The paragraph of docs/operations.md on the JSON that PostgreSQL refuses."""
    text = OPERATIONS.read_text(encoding="utf-8")
    start = text.index("JSON that PostgreSQL itself cannot represent")
    return text[start : text.index("\n\n", start)]


@pytest.mark.parametrize("example", JSON_INPUTS, ids=list(JSON_INPUTS))
def test_json_that_jsonb_cannot_store_gets_the_documented_sqlstate(dsn: str, example: str) -> None:
    batch, sqlstate = JSON_INPUTS[example]
    with psycopg.connect(dsn, autocommit=True) as conn:
        with pytest.raises(psycopg.Error) as raised:
            conn.execute("select eventstore.append_to_stream('order-1', null, %s::jsonb)", (batch,))
        assert raised.value.sqlstate == sqlstate
        row = conn.execute("select count(*) from eventstore.events").fetchone()
    assert row == (0,)
    paragraph = documented_json_inputs()
    assert example in paragraph
    assert re.search(rf"{re.escape(example)}[^()]*\({sqlstate}\)", paragraph), (example, sqlstate, paragraph)


def test_the_documented_json_input_codes_are_exactly_the_tested_ones() -> None:
    documented = set(re.findall(r"\(([0-9A-Z]{5})\)", documented_json_inputs()))
    assert documented == {sqlstate for _, sqlstate in JSON_INPUTS.values()}
