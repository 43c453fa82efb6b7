"""A stateful model test (issue 7): random sequences of appends (with random expected
versions, with and without event ids, retries of earlier batches), reads and snapshots
run against the store and against an in-memory reference model; after every step the
two must agree on every result, every error and every stream's version.
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from pgeventstore.errors import DuplicateEventId, InvalidArgument, StreamNotFound, WrongExpectedVersion
from pgeventstore.store import EventStore
from pgeventstore.values import AppendResult, NewEvent

STREAMS = ["order-1", "order-2", "cart-1"]


@dataclasses.dataclass
class ModelStream:
    events: list[NewEvent] = dataclasses.field(default_factory=list)
    snapshot: tuple[int, Any, int] | None = None

    @property
    def version(self) -> int:
        return len(self.events) - 1


@dataclasses.dataclass(frozen=True)
class Appended:
    stream: str
    events: tuple[NewEvent, ...]
    result: AppendResult


class StoreMachine(RuleBasedStateMachine):
    def __init__(self, dsn: str) -> None:
        super().__init__()
        self.conn = psycopg.connect(dsn, autocommit=True)
        self.store = EventStore(self.conn)
        self.prefix = f"m{uuid.uuid4().hex[:10]}-"
        self.model: dict[str, ModelStream] = {s: ModelStream() for s in STREAMS}
        self.appended: list[Appended] = []

    def teardown(self) -> None:
        self.conn.close()

    def expected_for(self, stream: str, choice: str) -> int | None:
        version = self.model[stream].version
        return {
            "any": None,
            "none": -1,
            "exists": -2,
            "exact": version,
            "stale": version - 1,
            "ahead": version + 1,
        }[choice]

    def model_append(
        self, stream: str, events: tuple[NewEvent, ...], expected: int | None
    ) -> AppendResult | type:
        """What the store must answer, following append_to_stream's specification."""
        target = self.model[stream]
        if expected is not None and expected < -2:
            return InvalidArgument
        ids = [e.id for e in events]
        if all(i is not None for i in ids):
            where = {
                e.id: (name, version)
                for name, s in self.model.items()
                for version, e in enumerate(s.events)
                if e.id is not None
            }
            if any(where.get(i, (stream,))[0] != stream for i in ids):
                return DuplicateEventId
            found = [where[i][1] for i in ids if i in where]
            if found:
                consecutive = len(found) == len(ids) and found == list(range(found[0], found[0] + len(ids)))
                placed = (expected is None or expected == -2 or (expected == -1 and found[0] == 0)) or (
                    expected >= 0 and found[0] == expected + 1
                )
                if not (consecutive and placed):
                    return WrongExpectedVersion
                # Already stored as a run (a whole earlier batch or a consecutive part of one):
                # an idempotent retry, answered with the stored events' versions and positions.
                return AppendResult(found[-1], -2, -2)
        elif any(
            i is not None and any(e.id == i for s in self.model.values() for e in s.events) for i in ids
        ):
            return DuplicateEventId
        version = target.version
        ok = (
            expected is None
            or (expected == -1 and version == -1)
            or (expected == -2 and version >= 0)
            or (expected >= 0 and expected == version)
        )
        return AppendResult(version + len(events), -1, -1) if ok else WrongExpectedVersion

    def check_append(self, stream: str, events: tuple[NewEvent, ...], expected: int | None) -> None:
        want = self.model_append(stream, events, expected)
        try:
            got = self.store.append(self.prefix + stream, events, expected)
        except (WrongExpectedVersion, DuplicateEventId, InvalidArgument) as error:
            assert isinstance(want, type) and isinstance(error, want), (want, error)
            return
        assert isinstance(want, AppendResult), (want, got)
        assert got.stream_version == want.stream_version
        assert got.last_position - got.first_position >= len(events) - 1
        if want.first_position == -2:
            stored = self.store.read_stream(
                self.prefix + stream, from_version=got.stream_version - len(events) + 1
            )
            assert [e.id for e in stored[: len(events)]] == [e.id for e in events], "a retry changes nothing"
            assert (stored[0].global_position, stored[len(events) - 1].global_position) == (
                got.first_position,
                got.last_position,
            ), "a retry returns the stored positions"
            return
        self.model[stream].events.extend(events)
        self.appended.append(Appended(stream, events, got))

    @rule(
        stream=st.sampled_from(STREAMS),
        choice=st.sampled_from(["any", "none", "exists", "exact", "exact", "stale", "ahead"]),
        count=st.integers(1, 3),
        with_ids=st.booleans(),
        data=st.dictionaries(st.text("abcé😀 -", max_size=5), st.integers(), max_size=2),
    )
    def append(self, stream: str, choice: str, count: int, with_ids: bool, data: dict[str, int]) -> None:
        events = tuple(
            NewEvent(f"Type{n}", data, {"n": n}, uuid.uuid4() if with_ids else None) for n in range(count)
        )
        self.check_append(stream, events, self.expected_for(stream, choice))

    @rule(
        index=st.integers(0, 1000),
        stream=st.one_of(st.none(), st.sampled_from(STREAMS)),
        choice=st.sampled_from(["any", "none", "exists", "exact", "stale", "original"]),
        drop_last=st.booleans(),
    )
    def retry(self, index: int, stream: str | None, choice: str, drop_last: bool) -> None:
        """Append an earlier batch again: as a retry, to another stream, or only in part."""
        if not self.appended:
            return
        earlier = self.appended[index % len(self.appended)]
        target = stream or earlier.stream
        events = earlier.events[:-1] if drop_last and len(earlier.events) > 1 else earlier.events
        if choice == "original":
            expected: int | None = earlier.result.stream_version - len(earlier.events)
            expected = -1 if expected == -1 else expected
        else:
            expected = self.expected_for(target, choice)
        self.check_append(target, events, expected)

    @rule(
        stream=st.sampled_from(STREAMS),
        start=st.one_of(st.none(), st.integers(-1, 8)),
        limit=st.integers(1, 5),
        backward=st.booleans(),
    )
    def read(self, stream: str, start: int | None, limit: int, backward: bool) -> None:
        events = self.model[stream].events
        if not backward and start == -1:
            return
        got = self.store.read_stream(self.prefix + stream, from_version=start, limit=limit, backward=backward)
        if backward:
            top = len(events) - 1 if start is None or start == -1 else min(start, len(events) - 1)
            want = list(range(top, max(top - limit, -1), -1))
        else:
            want = list(range(start or 0, min((start or 0) + limit, len(events))))
        assert [e.version for e in got] == want
        assert [(e.type, e.data, e.metadata) for e in got] == [
            (events[v].type, events[v].data, events[v].metadata) for v in want
        ]
        assert all(e.id == events[e.version].id for e in got if events[e.version].id is not None)

    @rule(
        stream=st.sampled_from(STREAMS), back=st.integers(0, 3), state=st.integers(), schema=st.integers(1, 2)
    )
    def snapshot(self, stream: str, back: int, state: int, schema: int) -> None:
        target = self.model[stream]
        version = target.version - back
        try:
            saved = self.store.save_snapshot(self.prefix + stream, version, {"s": state}, schema)
        except StreamNotFound:
            assert target.version == -1
            return
        except InvalidArgument:
            assert version < 0 <= target.version
            return
        stored = target.snapshot
        assert saved == (stored is None or stored[0] < version)
        if saved:
            target.snapshot = (version, {"s": state}, schema)

    @rule(stream=st.sampled_from(STREAMS), schema=st.one_of(st.none(), st.integers(1, 2)))
    def load(self, stream: str, schema: int | None) -> None:
        target = self.model[stream]
        loaded = self.store.load_stream(self.prefix + stream, schema)
        usable = target.snapshot if target.snapshot and schema in (None, target.snapshot[2]) else None
        if usable is None:
            assert loaded.snapshot is None
            assert [e.version for e in loaded.events] == list(range(len(target.events)))
        else:
            assert loaded.snapshot is not None
            assert (loaded.snapshot.version, loaded.snapshot.state, loaded.snapshot.schema_version) == usable
            assert [e.version for e in loaded.events] == list(range(usable[0] + 1, len(target.events)))
        snapshot = self.store.load_snapshot(self.prefix + stream)
        assert (
            (snapshot.version, snapshot.state, snapshot.schema_version) == target.snapshot
            if snapshot
            else (target.snapshot is None)
        )

    @invariant()
    def versions_agree(self) -> None:
        for stream, target in self.model.items():
            assert self.store.stream_version(self.prefix + stream) == target.version


def run(dsn: str, examples: int, steps: int) -> None:
    run_state_machine_as_test(
        lambda: StoreMachine(dsn),
        settings=settings(
            max_examples=examples,
            stateful_step_count=steps,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        ),
    )


def test_store_agrees_with_the_model(dsn: str) -> None:
    run(dsn, examples=40, steps=30)


@pytest.mark.soak
def test_store_agrees_with_the_model_soak(dsn: str) -> None:
    run(dsn, examples=1000, steps=60)
