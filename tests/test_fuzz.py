"""Hostile and bad input (issue 7): a property-based fuzz of the SQL API and of the Python
wrapper.

Every call (appends, stream reads, snapshots, and the global log, checkpoint and listing
functions) either succeeds as specified or fails with a documented SQLSTATE (ES400,
ES404, ES409, ES412; through the wrapper: the matching EventStoreError), never with any
other error, and a failed call writes nothing. Inputs: adversarial stream ids and types
(empty, too long, control characters, SQL text, unicode edge cases), JSON with deep
nesting, large strings and numbers at the limits of jsonb, NULL in every argument,
out-of-range versions and counts. Values a parameter's SQL type cannot hold (text with
NUL, integers beyond bigint) are PostgreSQL's own type errors before any function runs
and are not generated.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context

from pgeventstore.errors import EventStoreError
from pgeventstore.store import EventStore
from pgeventstore.values import NewEvent

DOCUMENTED = {"ES400", "ES404", "ES409", "ES412"}
MiB = 1024 * 1024
BIGINT = st.integers(min_value=-(2**63), max_value=2**63 - 1)
INTEGER = st.integers(min_value=-(2**31), max_value=2**31 - 1)

FUZZ = settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
SOAK = settings(FUZZ, max_examples=3000)


def fuzz(**strategies: st.SearchStrategy[Any]) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """@given(**strategies) with FUZZ settings; also defines the same property with SOAK
    settings as <name>_soak, run with --soak."""

    def decorate(check: Callable[..., None]) -> Callable[..., None]:
        globals()[f"{check.__name__}_soak"] = pytest.mark.soak(SOAK(given(**strategies)(check)))
        return FUZZ(given(**strategies)(check))

    return decorate


# Text PostgreSQL can hold: no NUL, no lone surrogates.
chars = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
printable = st.characters(whitelist_categories=("L", "M", "N", "P", "S", "Zs"), max_codepoint=0x2FFF)
plain_text = st.text(printable, min_size=1, max_size=40)
NASTY = [
    "",
    " ",
    "-",
    "a" * 255,
    "a" * 256,
    "é" * 255,
    "😀" * 255,
    "😀" * 256,
    "order-1\n",
    "tab\there",
    "\x7f",
    "'; delete from eventstore.events; --",
    "order-1' or '1'='1",
    "$$; drop schema eventstore cascade; $$",
    "%s %I %L",
    "\\",
    "null",
    "NULL",
    "‮evil",
    "\ufeffbom",
    "a\u0301",
]
nasty_text = st.one_of(plain_text, plain_text, st.text(chars, max_size=40), st.sampled_from(NASTY))

json_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([1e308, -1e308, 5e-324, 2**53 + 1, -(2**63), 2**64, 10**300]),
    nasty_text,
)
json_value = st.recursive(
    json_scalar,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(nasty_text, inner, max_size=4)),
    max_leaves=12,
)


@st.composite
def json_text(draw: st.DrawFn) -> str:
    """JSON text: a random value, a deeply nested one, or one with a string near a size limit."""
    kind = draw(st.sampled_from(["value"] * 6 + ["deep", "big"]))
    if kind == "deep":
        depth = draw(st.integers(min_value=1, max_value=1000))
        return "[" * depth + "]" * depth if draw(st.booleans()) else '{"a":' * depth + "1" + "}" * depth
    if kind == "big":
        size = draw(st.sampled_from([MiB - 16, MiB + 16, 2 * MiB]))
        return json.dumps("x" * size)
    return json.dumps(draw(json_value))


uuid_text = st.one_of(
    st.uuids().map(str),
    st.uuids().map(lambda u: str(u).upper()),
    st.uuids().map(lambda u: u.hex),
    nasty_text,
)


def usually(draw: st.DrawFn) -> bool:
    """True nine times in ten (hypothesis favours small integers, so not integers(0, 9))."""
    return draw(st.sampled_from([True] * 9 + [False]))


@st.composite
def event_object(draw: st.DrawFn) -> Any:
    """An event as append_to_stream takes it: mostly well formed, sometimes subtly not."""
    if not usually(draw):
        return draw(json_value)
    event: dict[str, Any] = {}
    if usually(draw):
        event["type"] = draw(plain_text) if usually(draw) else draw(st.one_of(nasty_text, json_scalar))
    if usually(draw):
        event["data"] = draw(json_value) if usually(draw) else json.loads(draw(json_text()))
    if draw(st.booleans()):
        event["metadata"] = draw(
            st.one_of(*[st.dictionaries(plain_text, json_value, max_size=3)] * 3, json_value)
        )
    if draw(st.booleans()):
        event["id"] = draw(st.one_of(st.uuids().map(str), st.uuids().map(str), uuid_text, st.none()))
    if not usually(draw):
        event[draw(plain_text)] = draw(json_value)
    return event


@st.composite
def events_text(draw: st.DrawFn) -> str | None:
    """The events argument: a batch, another JSON value, or NULL."""
    kind = draw(st.sampled_from(["batch"] * 8 + ["other", "null"]))
    if kind == "null":
        return None
    if kind == "other":
        return draw(json_text())
    return json.dumps(draw(st.lists(event_object(), max_size=4)), ensure_ascii=draw(st.booleans()))


stream_ids = st.one_of(st.none(), nasty_text, plain_text, st.sampled_from(["order-1", "order-2", "cart"]))
expected_versions = st.one_of(st.none(), st.none(), st.sampled_from([-3, -2, -1, 0, 1, 2]), BIGINT)


def state_digest(conn: psycopg.Connection) -> tuple[Any, ...]:
    row = conn.execute(
        "select (select count(*) from eventstore.events),"
        " (select coalesce(max(global_position), 0) from eventstore.events),"
        " (select md5(coalesce(string_agg(stream_id || ':' || version, ',' order by stream_id, version), ''))"
        "    from eventstore.events),"
        " (select md5(coalesce(string_agg(stream_id || ':' || version || ':' || state::text || ':'"
        "    || schema_version, ',' order by stream_id), '')) from eventstore.snapshots),"
        " (select md5(coalesce(string_agg(subscription || ':' || position, ',' order by subscription), ''))"
        "    from eventstore.checkpoints)"
    ).fetchone()
    assert row is not None
    return tuple(row)


def label(query: str, outcome: str) -> None:
    """Count outcomes per function in hypothesis' statistics (--hypothesis-show-statistics)."""
    if currently_in_test_context():
        event(f"{query.split('(')[0].split('.')[-1]}: {outcome}"[:90])


def call(conn: psycopg.Connection, query: str, params: tuple[Any, ...]) -> list[Any] | str:
    """Run ``query``: its rows, or the SQLSTATE it failed with (which must be documented)
    after checking that the failed call changed nothing."""
    before = state_digest(conn)
    try:
        rows = conn.execute(query, params).fetchall()
    except psycopg.Error as error:
        label(query, f"{error.sqlstate} {error.diag.message_primary}")
        assert error.sqlstate in DOCUMENTED, f"undocumented error {error.sqlstate}: {error}"
        assert state_digest(conn) == before, "a failed call wrote something"
        return str(error.sqlstate)
    label(query, "ok")
    return rows


@pytest.fixture
def conn(dsn: str):
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute("select eventstore.append_event('order-1', -1, 'Seed', '{}')")
        yield connection


@fuzz(stream_id=stream_ids, expected=expected_versions, events=events_text())
def test_append_to_stream(
    conn: psycopg.Connection, stream_id: str | None, expected: int | None, events: str | None
) -> None:
    before = state_digest(conn)
    # Ids hypothesis drew in an earlier example may be stored already: then a success is an
    # idempotent retry and must write nothing.
    retry = conn.execute(
        "select exists (select from eventstore.events e where e.event_id::text = any ("
        "  select lower(x ->> 'id') from jsonb_array_elements("
        "    case when jsonb_typeof(%s::jsonb) = 'array' then %s::jsonb else '[]' end) x"
        "  where jsonb_typeof(x) = 'object'))",
        (events, events),
    ).fetchone() == (True,)
    result = call(
        conn,
        "select * from eventstore.append_to_stream(%s::text, %s::bigint, %s::jsonb)",
        (stream_id, expected, events),
    )
    if isinstance(result, str):
        return
    if retry:
        assert state_digest(conn) == before, "an idempotent retry wrote something"
        return
    assert events is not None
    batch = json.loads(events)
    ((version, first, last),) = result
    stored = conn.execute(
        "select e.version, e.global_position, e.event_type = b.event ->> 'type',"
        " e.data = b.event -> 'data', e.metadata is not distinct from nullif(b.event -> 'metadata', 'null')"
        " from eventstore.events e"
        " join jsonb_array_elements(%s::jsonb) with ordinality b(event, n) on e.version = %s - %s + b.n"
        " where e.stream_id = %s order by e.version",
        (events, version, len(batch), stream_id),
    ).fetchall()
    assert [row[0] for row in stored] == list(range(version - len(batch) + 1, version + 1))
    assert all(row[2] and row[3] and row[4] for row in stored), "stored events differ from the batch"
    assert (stored[0][1], stored[-1][1]) == (first, last)
    assert state_digest(conn)[0] == before[0] + len(batch), "exactly the batch was written"


@fuzz(
    stream_id=stream_ids,
    expected=expected_versions,
    type_=st.one_of(st.none(), plain_text, nasty_text),
    data=st.one_of(st.none(), json_text()),
    metadata=st.one_of(st.none(), json_text()),
    event_id=st.one_of(st.none(), st.uuids()),
)
def test_append_event(
    conn: psycopg.Connection,
    stream_id: str | None,
    expected: int | None,
    type_: str | None,
    data: str | None,
    metadata: str | None,
    event_id: uuid.UUID | None,
) -> None:
    before = state_digest(conn)
    retry = event_id is not None and conn.execute(
        "select exists (select from eventstore.events where event_id = %s)", (event_id,)
    ).fetchone() == (True,)
    result = call(
        conn,
        "select * from eventstore.append_event("
        "%s::text, %s::bigint, %s::text, %s::jsonb, %s::jsonb, %s::uuid)",
        (stream_id, expected, type_, data, metadata, event_id),
    )
    if retry and not isinstance(result, str):
        assert state_digest(conn) == before, "an idempotent retry wrote something"
    elif not isinstance(result, str):
        ((version, first, last),) = result
        assert first == last
        row = conn.execute(
            "select event_type = %s, data = coalesce(%s::jsonb, 'null') from eventstore.events"
            " where stream_id = %s and version = %s",
            (type_, data, stream_id, version),
        ).fetchone()
        assert row == (True, True)


@fuzz(
    stream_id=stream_ids,
    from_version=st.one_of(st.none(), st.sampled_from([-2, -1, 0, 1, 5]), BIGINT),
    max_count=st.one_of(st.none(), st.sampled_from([-1, 0, 1, 100000, 100001]), INTEGER),
    backward=st.one_of(st.none(), st.booleans()),
    schema_version=st.one_of(st.none(), INTEGER),
)
def test_reads(
    conn: psycopg.Connection,
    stream_id: str | None,
    from_version: int | None,
    max_count: int | None,
    backward: bool | None,
    schema_version: int | None,
) -> None:
    rows = call(
        conn,
        "select version from eventstore.read_stream(%s::text, %s::bigint, %s::integer, %s::boolean)",
        (stream_id, from_version, max_count, backward),
    )
    if not isinstance(rows, str):
        assert max_count is not None and len(rows) <= max_count
        versions = [r[0] for r in rows]
        assert versions == sorted(versions, reverse=bool(backward))
    call(conn, "select eventstore.stream_version(%s::text)", (stream_id,))
    call(conn, "select * from eventstore.load_snapshot(%s::text)", (stream_id,))
    call(conn, "select * from eventstore.load_stream(%s::text, %s::integer)", (stream_id, schema_version))


@fuzz(
    stream_id=st.one_of(st.just("order-1"), st.just("order-1"), stream_ids),
    version=st.one_of(st.just(0), st.just(0), st.none(), st.sampled_from([-1, 1]), BIGINT),
    state=st.one_of(json_text(), json_text(), st.none()),
    schema_version=st.one_of(
        st.integers(1, 3), st.integers(1, 3), st.none(), st.sampled_from([-1, 0]), INTEGER
    ),
)
def test_save_snapshot(
    conn: psycopg.Connection,
    stream_id: str | None,
    version: int | None,
    state: str | None,
    schema_version: int | None,
) -> None:
    result = call(
        conn,
        "select eventstore.save_snapshot(%s::text, %s::bigint, %s::jsonb, %s::integer)",
        (stream_id, version, state, schema_version),
    )
    if stream_id == "order-1" and version == 0:
        # The seed's snapshot at version 0 was stored by the first such call; later ones keep it.
        assert result in ("ES400", [(True,)], [(False,)])
    if result == [(True,)]:
        row = conn.execute(
            "select version = %s and state = %s::jsonb and schema_version = %s"
            " from eventstore.load_snapshot(%s)",
            (version, state, schema_version, stream_id),
        ).fetchone()
        assert row == (True,)


def test_limits_are_enforced_with_es400(conn: psycopg.Connection) -> None:
    big = "x" * MiB
    cases = [
        ("select eventstore.append_event('s', null, 't', %s::jsonb)", (json.dumps(big),)),
        ("select eventstore.append_event('s', null, 't', '{}', %s::jsonb)", (json.dumps({"m": big}),)),
        ("select eventstore.append_event(%s, null, 't', '{}')", ("s" * 256,)),
        ("select eventstore.append_event('s', null, %s, '{}')", ("t" * 256,)),
        (
            "select eventstore.append_to_stream('s', null, %s::jsonb)",
            (json.dumps([{"type": "t", "data": 1}] * 10001),),
        ),
        (
            "select eventstore.append_to_stream('s', null, %s::jsonb)",
            (json.dumps([{"type": "t", "data": "x" * (MiB - 100)}] * 65),),
        ),
        ("select eventstore.save_snapshot('order-1', 0, %s::jsonb)", (json.dumps("x" * (16 * MiB + 1)),)),
        ("select * from eventstore.read_stream('order-1', 0, %s)", (100001,)),
    ]
    for query, params in cases:
        assert call(conn, query, params) == "ES400", query


# ---- the same through the Python wrapper ----

new_events = st.builds(
    NewEvent,
    type=nasty_text,
    data=json_value,
    metadata=st.one_of(st.none(), st.dictionaries(nasty_text, json_value, max_size=3)),
    id=st.one_of(st.none(), st.uuids()),
)


@fuzz(
    stream_id=nasty_text,
    events=st.lists(new_events, max_size=4),
    expected=expected_versions,
    reuse=st.booleans(),
)
def test_wrapper_append(
    conn: psycopg.Connection, stream_id: str, events: list[NewEvent], expected: int | None, reuse: bool
) -> None:
    store = EventStore(conn)
    # Fresh ids (hypothesis repeats its uuids across examples); which events carry one is drawn.
    events = [dataclasses.replace(e, id=uuid.uuid4()) if e.id is not None else e for e in events]
    before = state_digest(conn)
    try:
        result = store.append(stream_id, events, expected)
    except EventStoreError as error:
        assert error.sqlstate in DOCUMENTED
        assert state_digest(conn) == before, "a failed append wrote something"
        return
    stored = store.read_stream(
        stream_id, from_version=result.stream_version - len(events) + 1, limit=len(events)
    )
    assert [(e.type, e.id) for e in stored] == [
        (e.type, e.id if e.id is not None else s.id) for e, s in zip(events, stored, strict=True)
    ]
    if reuse and all(e.id is not None for e in events):
        assert store.append(stream_id, events, expected) == result, "an identical retry is idempotent"
    loaded = store.load_stream(stream_id)
    assert loaded.version == result.stream_version


# ---- the global log, checkpoints and listings: NULLs and extremes in every argument ----

positions = st.one_of(st.sampled_from([0, 0, 1, 2]), st.none(), st.just(-1), BIGINT)
counts = st.one_of(st.sampled_from([10, 10, 1, 100000]), st.none(), st.sampled_from([-1, 0, 100001]), INTEGER)
type_lists = st.one_of(st.none(), st.lists(st.one_of(st.none(), nasty_text), max_size=3))


@fuzz(
    after=positions,
    max_count=counts,
    event_types=type_lists,
    category=st.one_of(st.sampled_from(["order", "order", "cart"]), st.none(), nasty_text),
    member=st.one_of(st.none(), st.sampled_from([-1, 0, 1, 2]), INTEGER),
    size=st.one_of(st.none(), st.sampled_from([-1, 0, 1, 2]), INTEGER),
)
def test_log_reads(
    conn: psycopg.Connection,
    after: int | None,
    max_count: int | None,
    event_types: list[str | None] | None,
    category: str | None,
    member: int | None,
    size: int | None,
) -> None:
    rows = call(
        conn,
        "select global_position from eventstore.read_all(%s::bigint, %s::integer, %s::text[], %s::text)",
        (after, max_count, event_types, category),
    )
    if not isinstance(rows, str):
        assert max_count is not None and len(rows) <= max_count
    call(
        conn,
        "select global_position from eventstore.read_category("
        "%s::text, %s::bigint, %s::integer, %s::integer, %s::integer, %s::text[])",
        (category, after, max_count, member, size, event_types),
    )
    call(
        conn,
        "select * from eventstore.list_streams(%s::text, %s::integer, %s::text)",
        (category, max_count, category),
    )
    call(conn, "select eventstore.is_processed(%s::bigint, %s::bigint)", (after, after))
    call(conn, "select * from eventstore.stats()", ())
    call(conn, "select * from eventstore.subscription_lag()", ())


@fuzz(
    subscription=st.one_of(st.sampled_from(["projector", "projector"]), st.none(), nasty_text),
    checkpoint=positions,
    expected=st.one_of(st.none(), st.none(), positions),
)
def test_checkpoints(
    conn: psycopg.Connection, subscription: str | None, checkpoint: int | None, expected: int | None
) -> None:
    saved = call(
        conn,
        "select eventstore.save_checkpoint(%s::text, %s::bigint, %s::bigint)",
        (subscription, checkpoint, expected),
    )
    loaded = call(conn, "select eventstore.load_checkpoint(%s::text)", (subscription,))
    if saved == [(True,)]:
        assert loaded == [(checkpoint,)]
