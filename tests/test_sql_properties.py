"""Properties of the SQL API, checked by hypothesis against a plain Python model.

A state machine appends random batches to two streams of one category with every kind of
expected version (right and wrong), retries earlier batches, saves snapshots and reads
pages forward and backward; after every step the database must agree with the model:
gapless 0-based versions, increasing positions, reads equal to slicing the model's list.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

# jsonb holds no NUL character and no lone surrogate: leave them out of generated text.
TEXT_CHARS = st.characters(exclude_characters="\x00", exclude_categories=("Cs",))
JSON_SCALARS = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(TEXT_CHARS, max_size=8)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(TEXT_CHARS, max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
EVENT_TYPES = st.text(TEXT_CHARS, min_size=1, max_size=20)
VALID_EVENT = st.fixed_dictionaries(
    {"type": EVENT_TYPES, "data": JSON_VALUES},
    optional={"metadata": st.none() | st.dictionaries(st.sampled_from("ab"), JSON_SCALARS), "id": st.none()},
)
# A valid event with one key dropped, replaced by any JSON (or a long string), or added.
BROKEN_EVENT = st.tuples(
    VALID_EVENT,
    st.sampled_from(["type", "data", "metadata", "id", "extra"]),
    st.none() | JSON_VALUES | st.text(st.sampled_from("xy"), min_size=250, max_size=260),
    st.booleans(),
).map(lambda t: {k: v for k, v in t[0].items() if k != t[1]} if t[3] else {**t[0], t[1]: t[2]})
EVENT_BATCHES = st.lists(VALID_EVENT | BROKEN_EVENT, max_size=3)


@dataclass(frozen=True)
class ModelEvent:
    type: str
    data: Any
    metadata: dict[str, Any] | None
    event_id: uuid.UUID | None


@dataclass
class ModelStream:
    events: list[ModelEvent] = field(default_factory=list)
    positions: list[int] = field(default_factory=list)
    snapshot_version: int | None = None

    @property
    def version(self) -> int:
        return len(self.events) - 1


def error_of(conn: psycopg.Connection[Any], query: str, params: tuple[Any, ...]) -> psycopg.Error | None:
    try:
        conn.execute(query, params)
    except psycopg.Error as error:
        return error
    return None


class EventStoreModel(RuleBasedStateMachine):
    """Two streams of one category against a list-of-events model."""

    dsn = ""

    def __init__(self) -> None:
        super().__init__()
        self.conn = psycopg.connect(self.dsn, autocommit=True)
        prefix = f"prop{uuid.uuid4().hex[:10]}"
        self.streams = {f"{prefix}-a": ModelStream(), f"{prefix}-b": ModelStream()}
        # (query, its parameters, the result it gave)
        self.retryable: list[tuple[str, tuple[Any, ...], tuple[int, int, int]]] = []
        self.last_position = 0

    def teardown(self) -> None:
        self.conn.close()

    @initialize()
    def start(self) -> None:
        row = self.conn.execute("select coalesce(max(global_position), 0) from eventstore.events").fetchone()
        assert row is not None
        self.last_position = row[0]

    @rule(
        data=st.data(),
        mode=st.sampled_from(["exact", "any", "no-stream", "exists", "stale"]),
        batch=st.lists(
            st.tuples(
                EVENT_TYPES, JSON_VALUES, st.none() | st.dictionaries(st.sampled_from("abc"), JSON_SCALARS)
            ),
            min_size=1,
            max_size=5,
        ),
        with_ids=st.booleans(),
        one_by_one=st.booleans(),
    )
    def append(
        self,
        data: st.DataObject,
        mode: str,
        batch: list[tuple[str, Any, Any]],
        with_ids: bool,
        one_by_one: bool,
    ) -> None:
        """append_to_stream, or append_event when the batch has one event and one_by_one holds."""
        stream_id = data.draw(st.sampled_from(sorted(self.streams)))
        stream = self.streams[stream_id]
        current = stream.version
        expected: int | None
        if mode == "exact":
            expected = current
        elif mode == "any":
            expected = None
        elif mode == "no-stream":
            expected = -1
        elif mode == "exists":
            expected = -2
        else:
            expected = data.draw(st.integers(0, current + 3).filter(lambda v: v != current))
        succeeds = (
            mode in ("exact", "any")
            or (mode == "no-stream" and current == -1)
            or (mode == "exists" and current >= 0)
        )
        events = [ModelEvent(t, d, m, uuid.uuid4() if with_ids else None) for t, d, m in batch]
        payload = json.dumps(
            [
                {
                    "type": e.type,
                    "data": e.data,
                    **({"metadata": e.metadata} if e.metadata is not None else {}),
                    **({"id": str(e.event_id)} if e.event_id else {}),
                }
                for e in events
            ]
        )
        query = "select * from eventstore.append_to_stream(%s, %s, %s::jsonb)"
        params: tuple[Any, ...] = (stream_id, expected, payload)
        if one_by_one and len(events) == 1:
            query = "select * from eventstore.append_event(%s, %s, %s, %s::jsonb, %s::jsonb, %s)"
            event = events[0]
            metadata = None if event.metadata is None else json.dumps(event.metadata)
            params = (stream_id, expected, event.type, json.dumps(event.data), metadata, event.event_id)
        if not succeeds:
            error = error_of(self.conn, query, params)
            assert error is not None and error.sqlstate == "ES409", error
            detail = json.loads(error.diag.message_detail or "{}")
            assert detail == {"stream_id": stream_id, "expected_version": expected, "actual_version": current}
            return
        row = self.conn.execute(query, params).fetchone()
        assert row is not None
        result = (row[0], row[1], row[2])
        assert result[0] == current + len(events)
        assert result[2] - result[1] == len(events) - 1, "one writer: a batch's positions are consecutive"
        assert result[1] > self.last_position
        self.last_position = result[2]
        stream.events.extend(events)
        stream.positions.extend(range(result[1], result[2] + 1))
        if with_ids:
            self.retryable.append((query, params, result))

    @precondition(lambda self: self.retryable)
    @rule(data=st.data())
    def retry(self, data: st.DataObject) -> None:
        query, params, original = data.draw(st.sampled_from(self.retryable))
        row = self.conn.execute(query, params).fetchone()
        assert row == original

    @rule(data=st.data(), backward=st.booleans(), max_count=st.integers(1, 12))
    def read(self, data: st.DataObject, backward: bool, max_count: int) -> None:
        stream_id = data.draw(st.sampled_from(sorted(self.streams)))
        stream = self.streams[stream_id]
        n = len(stream.events)
        if backward:
            start = data.draw(st.none() | st.integers(-1, n + 2))
            top = n - 1 if start is None or start == -1 else min(start, n - 1)
            indexes = list(range(top, -1, -1))[:max_count]
        else:
            start = data.draw(st.none() | st.integers(0, n + 2))
            indexes = list(range(start or 0, n))[:max_count]
        rows = self.conn.execute(
            "select stream_id, version, global_position, event_id, event_type, data, metadata"
            " from eventstore.read_stream(%s, %s, %s, %s)",
            (stream_id, start, max_count, backward),
        ).fetchall()
        expected = [
            (
                stream_id,
                i,
                stream.positions[i],
                stream.events[i].type,
                stream.events[i].data,
                stream.events[i].metadata,
            )
            for i in indexes
        ]
        assert [(r[0], r[1], r[2], r[4], r[5], r[6]) for r in rows] == expected
        for row, i in zip(rows, indexes, strict=True):
            if stream.events[i].event_id is not None:
                assert row[3] == stream.events[i].event_id

    @rule(data=st.data(), schema_version=st.integers(1, 3))
    def save_snapshot(self, data: st.DataObject, schema_version: int) -> None:
        stream_id = data.draw(st.sampled_from(sorted(self.streams)))
        stream = self.streams[stream_id]
        if stream.version < 0:
            error = error_of(self.conn, "select eventstore.save_snapshot(%s, 0, '{}')", (stream_id,))
            assert error is not None and error.sqlstate == "ES404"
            return
        version = data.draw(st.integers(0, stream.version))
        row = self.conn.execute(
            "select eventstore.save_snapshot(%s, %s, %s::jsonb, %s)",
            (stream_id, version, json.dumps({"v": version}), schema_version),
        ).fetchone()
        newer = stream.snapshot_version is None or version > stream.snapshot_version
        assert row == (newer,)
        if newer:
            stream.snapshot_version = version

    @rule(data=st.data())
    def load_stream(self, data: st.DataObject) -> None:
        stream_id = data.draw(st.sampled_from(sorted(self.streams)))
        stream = self.streams[stream_id]
        rows = self.conn.execute(
            "select kind, version, data from eventstore.load_stream(%s)", (stream_id,)
        ).fetchall()
        first = 0
        expected: list[tuple[str, int, Any]] = []
        if stream.snapshot_version is not None:
            expected.append(("snapshot", stream.snapshot_version, {"v": stream.snapshot_version}))
            first = stream.snapshot_version + 1
        expected += [("event", i, stream.events[i].data) for i in range(first, len(stream.events))]
        assert rows == expected

    @invariant()
    def versions_are_gapless(self) -> None:
        for stream_id, stream in self.streams.items():
            row = self.conn.execute(
                "select eventstore.stream_version(%s), count(*), coalesce(max(version), -1),"
                " count(*) filter (where global_position is not null)"
                " from eventstore.events where stream_id = %s",
                (stream_id, stream_id),
            ).fetchone()
            assert row == (stream.version, len(stream.events), stream.version, len(stream.events))


def run_model(dsn: str, examples: int) -> None:
    EventStoreModel.dsn = dsn
    run_state_machine_as_test(
        EventStoreModel,
        settings=settings(
            max_examples=examples,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        ),
    )


def test_the_store_behaves_like_the_model(dsn: str) -> None:
    run_model(dsn, 40)


@pytest.mark.soak
def test_the_store_behaves_like_the_model_soak(dsn: str) -> None:
    run_model(dsn, 500)


STREAM_ID_CHARS = st.characters(min_codepoint=1, max_codepoint=127) | st.sampled_from("éß日本😀-_ ")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(stream_id=st.text(STREAM_ID_CHARS, max_size=300))
def test_stream_ids_are_valid_exactly_when_short_printable_and_categorized(dsn: str, stream_id: str) -> None:
    valid = (
        1 <= len(stream_id) <= 255
        and not any(ord(c) < 32 or ord(c) == 127 for c in stream_id)
        and not stream_id.startswith("-")
    )
    with psycopg.connect(dsn, autocommit=True) as conn:
        error = error_of(conn, "select eventstore.stream_version(%s)", (stream_id,))
    assert (error is None) == valid, (stream_id, error)
    if error is not None:
        assert error.sqlstate == "ES400"


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=JSON_VALUES | EVENT_BATCHES)
def test_any_json_that_is_not_an_array_of_events_is_es400(dsn: str, events: Any) -> None:
    shaped = (
        isinstance(events, list)
        and len(events) > 0
        and all(
            isinstance(e, dict)
            and set(e) <= {"type", "data", "metadata", "id"}
            and isinstance(e.get("type"), str)
            and 1 <= len(e["type"]) <= 255
            and "data" in e
            and (e.get("metadata") is None or isinstance(e["metadata"], dict))
            and e.get("id") is None
            for e in events
        )
    )
    with psycopg.connect(dsn, autocommit=True) as conn:
        error = error_of(
            conn,
            "select eventstore.append_to_stream(%s, null, %s::jsonb)",
            (f"json-{uuid.uuid4()}", json.dumps(events)),
        )
    assert (error is None) == shaped, (events, error)
    if error is not None:
        assert error.sqlstate == "ES400"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=JSON_VALUES | EVENT_BATCHES)
def test_the_fast_path_test_admits_only_batches_check_events_accepts(dsn: str, events: Any) -> None:
    """append_to_stream skips check_events when is_plain_batch holds: that must be safe."""
    batch = json.dumps(events)
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute("select eventstore.is_plain_batch(%s::jsonb)", (batch,)).fetchone()
        error = error_of(conn, "select eventstore.check_events(%s::jsonb)", (batch,))
    assert row is not None
    plain = row[0]
    if plain:
        assert error is None, (events, error)
    one_event = isinstance(events, list) and len(events) == 1 and isinstance(events[0], dict)
    one_event_without_id = one_event and "id" not in events[0]
    if error is None and one_event_without_id:
        assert plain, f"a valid one-event batch missed the fast path: {events}"


# SQL NULL (None) or JSON text, "null" included.
SQL_JSON = st.none() | JSON_VALUES.map(json.dumps)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    event_type=st.none()
    | st.text(TEXT_CHARS, max_size=10)
    | st.text(st.sampled_from("xé"), min_size=120, max_size=300),
    data=SQL_JSON,
    metadata=SQL_JSON,
)
def test_the_one_event_fast_path_test_admits_only_events_check_events_accepts(
    dsn: str, event_type: str | None, data: str | None, metadata: str | None
) -> None:
    """append_event skips check_events when is_plain_event holds: that must be safe."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "select eventstore.is_plain_event(%s, %s::jsonb, %s::jsonb)", (event_type, data, metadata)
        ).fetchone()
        error = error_of(
            conn,
            "select eventstore.check_events(jsonb_build_array(jsonb_build_object("
            "'type', %s::text, 'data', coalesce(%s::jsonb, 'null'), 'metadata', %s::jsonb)))",
            (event_type, data, metadata),
        )
    assert row is not None
    plain = row[0]
    if plain:
        assert error is None, (event_type, data, metadata, error)
    if error is None and len((event_type or "").encode()) <= 255:
        assert plain, f"a valid event missed the fast path: {(event_type, data, metadata)}"
