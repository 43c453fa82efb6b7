"""Aggregates: reducers, handlers, the repository's snapshots, upcasting, metadata and retries."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import tempfile
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import pq

from pgeventstore import EventStore, NewEvent, WrongExpectedVersion
from pgeventstore.aggregate import (
    AggregateType,
    CommandContext,
    DomainError,
    Event,
    Repository,
    RetryPolicy,
)


@dataclasses.dataclass(frozen=True)
class Tally:
    total: int = 0
    entries: tuple[int, ...] = ()
    closed: bool = False


def make_tally(snapshot_every: int | None = 100, state_version: int = 1) -> AggregateType[Tally]:
    tally = AggregateType("tally", Tally(), snapshot_every=snapshot_every, state_version=state_version)

    @tally.reducer("Added")
    def added(state: Tally, event: Event) -> Tally:
        amount = event.data["amount"]
        return dataclasses.replace(state, total=state.total + amount, entries=(*state.entries, amount))

    @tally.reducer("Closed")
    def closed(state: Tally, event: Event) -> Tally:
        return dataclasses.replace(state, closed=True)

    @tally.upcaster("Added", 1)
    def added_v1(data: dict[str, Any]) -> dict[str, Any]:
        return {"amount": data["value"]}

    tally.handler(add)
    tally.handler(close)
    return tally


def add(state: Tally, amount: int, times: int = 1) -> list[NewEvent]:
    if state.closed:
        raise DomainError("the tally is closed")
    if amount <= 0:
        raise DomainError("amounts must be positive")
    return [NewEvent("Added", {"amount": amount}) for _ in range(times)]


def close(state: Tally) -> list[NewEvent]:
    return [] if state.closed else [NewEvent("Closed", {})]


@pytest.fixture
def store(dsn: str) -> Iterator[EventStore]:
    with EventStore(dsn) as opened:
        yield opened


def stream() -> str:
    return f"tally-{uuid.uuid4().hex[:8]}"


NOON = datetime.datetime(2026, 1, 2, 12, 0, tzinfo=datetime.UTC)


def event(type: str, data: Any, version: int = 0) -> Event:
    return Event("tally-1", version, type, data, None, NOON)


def test_reducers_fold_events_without_a_database() -> None:
    tally = make_tally()
    state = tally.apply(Tally(), event("Added", {"amount": 2}))
    state = tally.apply(state, event("Added", {"amount": 3}, 1))
    state = tally.apply(state, event("Unrelated", {"anything": 1}, 2))
    assert state == Tally(total=5, entries=(2, 3))
    assert tally.apply(state, event("Closed", {}, 3)).closed


def test_reducers_and_upcasters_as_mappings() -> None:
    counter = AggregateType(
        "counter",
        0,
        reducers={"Added": lambda state, event: state + event.data["amount"]},
        upcasters={("Added", 1): lambda data: {"amount": data["value"]}},
    )
    assert counter.event_version("Added") == 2
    assert counter.apply(0, event("Added", counter.upcast("Added", {"value": 3}, 1))) == 3
    assert counter.from_json(counter.to_json(7)) == 7


def test_handlers_are_registered_by_decorator_or_mapping() -> None:
    tally = make_tally()
    assert tally.command_handler("add") is tally.command_handler(add) is add
    counter = AggregateType("counter", 0, handlers={"bump": close})
    assert counter.command_handler("bump") is close
    for unknown in ("bump", "missing", lambda state: []):
        with pytest.raises(ValueError, match="is not a command handler of the aggregate type 'tally'"):
            tally.command_handler(unknown)
    with pytest.raises(ValueError, match="'add' is not a command handler of the aggregate type 'counter'"):
        counter.command_handler(add)


def test_execute_takes_a_registered_handler_or_its_name(store: EventStore) -> None:
    repo = Repository(store, make_tally())
    stream_id = stream()
    assert repo.execute(stream_id, "add", 2, 2).state.total == 4
    assert repo.execute(stream_id, add, 1).state.total == 5

    def unregistered(state: Tally) -> list[NewEvent]:
        return [NewEvent("Added", {"amount": 1})]

    with pytest.raises(ValueError, match="'unregistered' is not a command handler"):
        repo.execute(stream_id, unregistered)
    with pytest.raises(ValueError, match="'close_all' is not a command handler"):
        repo.execute(stream_id, "close_all")
    assert store.stream_version(stream_id) == 2


def test_handlers_decide_events_or_raise_domain_errors() -> None:
    assert add(Tally(), 4, times=2) == [NewEvent("Added", {"amount": 4})] * 2
    with pytest.raises(DomainError, match="positive"):
        add(Tally(), 0)
    with pytest.raises(DomainError, match="closed"):
        add(Tally(closed=True), 1)


@dataclasses.dataclass(frozen=True)
class Line:
    sku: str
    quantity: int


@dataclasses.dataclass(frozen=True)
class Basket:
    lines: tuple[Line, ...] = ()
    note: str | None = None
    best: Line | None = None
    history: list[Line] = dataclasses.field(default_factory=list)


def test_state_codec_round_trips_nested_dataclasses() -> None:
    kind = AggregateType("basket", Basket())
    state = Basket((Line("a", 1), Line("b", 2)), "hi", Line("b", 2), [Line("c", 3)])
    assert kind.from_json(kind.to_json(state)) == state
    assert kind.from_json(kind.to_json(Basket())) == Basket()


def test_a_custom_state_serializer_stores_and_restores_snapshots(store: EventStore) -> None:
    # A frozenset is not a dataclass: the default (identity) could neither store nor restore it.
    tags: AggregateType[frozenset[str]] = AggregateType(
        "tags",
        frozenset(),
        snapshot_every=2,
        to_json=lambda state: {"tags": sorted(state)},
        from_json=lambda value: frozenset(value["tags"]),
    )
    tags.reducer("Tagged")(lambda state, event: state | {event.data["tag"]})

    @tags.handler
    def tag(state: frozenset[str], name: str) -> list[NewEvent]:
        return [NewEvent("Tagged", {"tag": name})]

    stream_id = stream()
    repo = Repository(store, tags)
    for name in ("b", "a", "c"):
        repo.execute(stream_id, tag, name)
    snapshot = store.load_snapshot(stream_id)
    assert snapshot is not None
    assert (snapshot.version, snapshot.state) == (1, {"tags": ["a", "b"]})
    loaded = Repository(store, tags).load(stream_id)
    assert (loaded.snapshot_version, loaded.replayed) == (1, 1)
    assert isinstance(loaded.state, frozenset)
    assert loaded.state == frozenset({"a", "b", "c"})


@dataclasses.dataclass(frozen=True)
class Seen:
    """What a reducer saw of one event, beyond its data."""

    stream_id: str
    version: int
    type: str
    amount: int
    correlation_id: str | None
    recorded_at: datetime.datetime


@dataclasses.dataclass(frozen=True)
class Journal:
    seen: tuple[Seen, ...] = ()


def test_reducers_see_the_whole_upcast_event(store: EventStore) -> None:
    journal = AggregateType("journal", Journal(), snapshot_every=3)

    @journal.reducer("Added")
    def added(state: Journal, event: Event) -> Journal:
        correlation = (event.metadata or {}).get("correlation_id")
        seen = Seen(
            event.stream_id, event.version, event.type, event.data["amount"], correlation, event.recorded_at
        )
        return Journal((*state.seen, seen))

    journal.upcaster("Added", 1)(lambda data: {"amount": data["value"]})

    @journal.handler
    def add_to_journal(state: Journal, amount: int, times: int = 1) -> list[NewEvent]:
        return [NewEvent("Added", {"amount": amount})] * times

    stream_id = stream()
    repo = Repository(store, journal)
    store.append(stream_id, [NewEvent("Added", {"value": 1})])
    repo.execute(stream_id, add_to_journal, 2, context=CommandContext(correlation_id="c-2"))
    after = repo.execute(stream_id, add_to_journal, 3, 2)
    stored = store.read_stream(stream_id)
    expected = tuple(
        Seen(stream_id, e.version, "Added", amount, correlation, e.recorded_at)
        for e, amount, correlation in zip(stored, (1, 2, 3, 3), (None, "c-2", None, None), strict=True)
    )
    # execute's state (built before reading the events back), the replay and the snapshot agree.
    assert after.state.seen == expected
    assert journal.fold(Journal(), stored).seen == expected
    loaded = Repository(store, journal).load(stream_id)
    assert (loaded.state.seen, loaded.snapshot_version, loaded.replayed) == (expected, 3, 0)


def test_execute_appends_and_load_rebuilds(store: EventStore) -> None:
    repo = Repository(store, make_tally())
    stream_id = stream()
    assert repo.load(stream_id).version == -1
    after = repo.execute(stream_id, add, 5)
    assert (after.state.total, after.version) == (5, 0)
    after = repo.execute(stream_id, add, 2, 3)
    assert (after.state, after.version) == (Tally(11, (5, 2, 2, 2)), 3)
    loaded = repo.load(stream_id)
    assert (loaded.state, loaded.version, loaded.replayed) == (after.state, 3, 4)


def test_domain_error_stores_nothing(store: EventStore) -> None:
    repo = Repository(store, make_tally())
    stream_id = stream()
    repo.execute(stream_id, add, 1)
    with pytest.raises(DomainError):
        repo.execute(stream_id, add, -1)
    assert store.stream_version(stream_id) == 0


def test_a_handler_deciding_nothing_appends_nothing(store: EventStore) -> None:
    repo = Repository(store, make_tally())
    stream_id = stream()
    repo.execute(stream_id, add, 1)
    repo.execute(stream_id, close)
    assert repo.execute(stream_id, close).version == 1
    assert store.stream_version(stream_id) == 1


def test_snapshot_every_n_events(store: EventStore) -> None:
    repo = Repository(store, make_tally(snapshot_every=3))
    stream_id = stream()
    versions = []
    for amount in range(1, 8):
        after = repo.execute(stream_id, add, amount)
        snapshot = store.load_snapshot(stream_id)
        versions.append(None if snapshot is None else snapshot.version)
        assert after.snapshot_version == versions[-1]
    assert versions == [None, None, 2, 2, 2, 5, 5]
    snapshot = store.load_snapshot(stream_id)
    assert snapshot is not None
    assert snapshot.state == {"total": 21, "entries": [1, 2, 3, 4, 5, 6], "closed": False}
    loaded = repo.load(stream_id)
    assert (loaded.snapshot_version, loaded.replayed, loaded.state.total) == (5, 1, 28)


def test_a_batch_crossing_the_threshold_snapshots_at_its_end(store: EventStore) -> None:
    repo = Repository(store, make_tally(snapshot_every=10))
    stream_id = stream()
    repo.execute(stream_id, add, 1, 8)
    assert repo.execute(stream_id, add, 1, 5).snapshot_version == 12
    snapshot = store.load_snapshot(stream_id)
    assert snapshot is not None
    assert snapshot.version == 12


def test_snapshot_is_written_in_the_same_transaction_as_the_events(store: EventStore, dsn: str) -> None:
    repo = Repository(store, make_tally(snapshot_every=2))
    stream_id = stream()
    repo.execute(stream_id, add, 1)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "create function public.refuse() returns trigger language plpgsql as "
            "$$ begin raise exception 'snapshot refused'; end $$"
        )
        conn.execute(
            "create trigger refuse before insert or update on eventstore.snapshots "
            "for each row execute function public.refuse()"
        )
    with pytest.raises(psycopg.errors.RaiseException, match="snapshot refused"):
        repo.execute(stream_id, add, 1)
    assert store.stream_version(stream_id) == 0


def test_execute_joins_the_callers_transaction(store: EventStore, dsn: str) -> None:
    tally = make_tally(snapshot_every=1)
    repo = Repository(store, tally)
    stream_id = stream()
    interfered = []

    def add_after_a_rival(state: Tally, amount: int) -> list[NewEvent]:
        # A rival commits between the first attempt's load and its append: that append
        # fails inside the caller's transaction, which must stay usable for the retry.
        if not interfered:
            interfered.append(store.append(stream_id, [NewEvent("Added", {"value": 100})]))
        return add(state, amount)

    tally.handler(add_after_a_rival)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("create table if not exists public.receipts (stream_id text, total bigint)")
        with pytest.raises(RuntimeError, match="abandon"), conn.transaction():
            after = repo.execute(stream_id, add, 5, conn=conn)
            conn.execute("insert into public.receipts values (%s, %s)", (stream_id, after.state.total))
            assert after.snapshot_version == 0
            assert repo.load(stream_id).version == -1  # not committed: other sessions see nothing
            raise RuntimeError("abandon the order")
        assert repo.load(stream_id).version == -1
        assert store.load_snapshot(stream_id) is None
        assert conn.execute(
            "select count(*) from public.receipts where stream_id = %s", (stream_id,)
        ).fetchone() == (0,)

        with conn.transaction():
            after = repo.execute(stream_id, add_after_a_rival, 5, conn=conn)
            conn.execute("insert into public.receipts values (%s, %s)", (stream_id, after.state.total))
        assert len(interfered) == 1
        assert (after.state.total, after.version, after.snapshot_version) == (105, 1, 1)
        loaded = repo.load(stream_id)
        assert (loaded.state, loaded.snapshot_version) == (after.state, 1)
        receipts = conn.execute("select total from public.receipts where stream_id = %s", (stream_id,))
        assert receipts.fetchall() == [(105,)]


def test_a_snapshot_of_another_state_version_is_ignored(store: EventStore) -> None:
    stream_id = stream()
    Repository(store, make_tally(snapshot_every=2, state_version=1)).execute(stream_id, add, 1, 3)
    old = store.load_snapshot(stream_id)
    assert old is not None
    assert old.schema_version == 1
    # Version 2 of the state stores something else under the same stream.
    store.save_snapshot(stream_id, 2, {"garbage": True}, 1)
    repo = Repository(store, make_tally(snapshot_every=2, state_version=2))
    loaded = repo.load(stream_id)
    assert (loaded.snapshot_version, loaded.replayed, loaded.state.total) == (None, 3, 3)
    after = repo.execute(stream_id, add, 1)
    new = store.load_snapshot(stream_id)
    assert new is not None
    assert (new.version, new.schema_version, after.snapshot_version) == (3, 2, 3)
    assert repo.load(stream_id).replayed == 0


def test_upcasters_apply_to_old_events_and_never_rewrite_them(store: EventStore) -> None:
    tally = make_tally()
    repo = Repository(store, tally)
    stream_id = stream()
    store.append(stream_id, [NewEvent("Added", {"value": 7})])
    repo.execute(stream_id, add, 3)
    assert repo.load(stream_id).state.entries == (7, 3)
    stored = store.read_stream(stream_id)
    assert [event.data for event in stored] == [{"value": 7}, {"amount": 3}]
    assert stored[1].metadata == {"schema_version": tally.event_version("Added")} == {"schema_version": 2}


def test_command_context_ids_reach_event_metadata(store: EventStore) -> None:
    repo = Repository(store, make_tally())
    stream_id = stream()
    context = CommandContext(correlation_id="checkout-17", causation_id="cmd-1")
    repo.execute(stream_id, add, 1, 2, context=context)
    repo.execute(stream_id, add, 1)
    metadata = [event.metadata for event in store.read_stream(stream_id)]
    expected = {"schema_version": 2, "correlation_id": "checkout-17", "causation_id": "cmd-1"}
    assert metadata == [expected, expected, {"schema_version": 2}]


def test_retry_after_a_concurrent_append_then_give_up_when_bounded(store: EventStore) -> None:
    stream_id = stream()
    calls = []

    def interfering(state: Tally) -> list[NewEvent]:
        # Another writer appends between this attempt's load and its append.
        calls.append(state.total)
        if len(calls) <= 2:
            store.append(stream_id, [NewEvent("Added", {"value": 10})])
        return add(state, 1)

    tally = make_tally()
    tally.handler(interfering)
    after = Repository(store, tally, retry=RetryPolicy(attempts=3)).execute(stream_id, interfering)
    assert calls == [0, 10, 20]
    assert (after.state.total, after.version) == (21, 2)

    calls.clear()
    with pytest.raises(WrongExpectedVersion):
        Repository(store, tally, retry=RetryPolicy(attempts=2)).execute(stream_id, interfering)
    assert len(calls) == 2


def test_retry_on_a_store_of_one_connection_without_autocommit(store: EventStore, dsn: str) -> None:
    """A conflict must not abort the transaction the store's own connection is in."""
    stream_id = stream()
    calls = []

    def interfering(state: Tally) -> list[NewEvent]:
        calls.append(state.total)
        if len(calls) == 1:
            store.append(stream_id, [NewEvent("Added", {"value": 10})])
        return add(state, 1)

    tally = make_tally()
    tally.handler(interfering)
    with psycopg.connect(dsn) as conn:
        after = Repository(EventStore(conn), tally).execute(stream_id, interfering)
        conn.commit()
    assert calls == [0, 10]
    assert (after.state.total, after.version) == (11, 1)
    assert Repository(store, tally).load(stream_id).state.total == 11


def test_a_conflict_in_a_repeatable_read_transaction_is_not_retried_in_it(
    store: EventStore, dsn: str
) -> None:
    stream_id = stream()
    calls = []

    def interfering(state: Tally) -> list[NewEvent]:
        calls.append(state.total)
        store.append(stream_id, [NewEvent("Added", {"value": 10})])  # commits after our snapshot
        return add(state, 1)

    tally = make_tally()
    tally.handler(interfering)
    with psycopg.connect(dsn) as conn:
        conn.execute("set transaction isolation level repeatable read")
        with pytest.raises(WrongExpectedVersion) as raised:
            Repository(store, tally, retry=RetryPolicy(attempts=5)).execute(stream_id, interfering, conn=conn)
        conn.rollback()
    assert raised.value.actual is None
    assert calls == [0], "a retry inside the same snapshot cannot succeed"


def test_concurrent_execute_loses_no_update(dsn: str) -> None:
    stream_id = stream()
    writers, commands = 6, 15
    errors: list[BaseException] = []
    barrier = threading.Barrier(writers)

    def work(offset: int) -> None:
        with EventStore(dsn) as own:
            repo = Repository(own, make_tally(snapshot_every=7), retry=RetryPolicy(attempts=200))
            barrier.wait()
            try:
                for n in range(commands):
                    repo.execute(stream_id, add, offset * 100 + n + 1)
            except BaseException as error:
                errors.append(error)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with EventStore(dsn) as fresh:
        loaded = Repository(fresh, make_tally(snapshot_every=7)).load(stream_id)
        expected = sorted(offset * 100 + n + 1 for offset in range(writers) for n in range(commands))
        assert sorted(loaded.state.entries) == expected
        assert loaded.version == writers * commands - 1
        assert loaded.replayed < 7


@contextlib.contextmanager
def round_trips(conn: psycopg.Connection[Any]) -> Iterator[list[int]]:
    """Count the server's ReadyForQuery messages (one per round trip) while the block runs."""
    counted: list[int] = []
    with tempfile.TemporaryFile() as trace:
        conn.pgconn.trace(trace.fileno())
        conn.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)
        try:
            yield counted
        finally:
            conn.pgconn.untrace()
        trace.seek(0)
        lines = trace.read().decode().splitlines()
    counted.append(sum(1 for line in lines if line.startswith("B\t") and "\tReadyForQuery" in line))


def test_load_with_a_snapshot_is_one_round_trip_replaying_at_most_n_events(dsn: str) -> None:
    every = 100
    stream_id = stream()
    with psycopg.connect(dsn, autocommit=True) as conn:
        repo = Repository(EventStore(conn), make_tally(snapshot_every=every))
        for batch in (60, 60, 90, 45, 80):
            repo.execute(stream_id, add, 1, batch)
        # psycopg prepares a statement on its 5th execution (a one-off extra round trip):
        # load once more to measure the prepared statement's steady state.
        repo.load(stream_id)
        with round_trips(conn) as counted_prepared:
            repo.load(stream_id)
    with psycopg.connect(dsn, autocommit=True) as fresh:
        repo = Repository(EventStore(fresh), make_tally(snapshot_every=every))
        with round_trips(fresh) as counted_fresh:
            loaded = repo.load(stream_id)
    assert counted_fresh == counted_prepared == [1]
    assert (loaded.version, loaded.state.total) == (334, 335)
    assert (loaded.snapshot_version, loaded.replayed) == (254, 80)


commands = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.integers(-2, 9), st.integers(1, 4)),
        st.tuples(st.just("close"), st.just(0), st.just(0)),
    ),
    max_size=25,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(script=commands, every=st.integers(1, 6))
def test_load_equals_full_replay_equals_snapshot_plus_tail(
    store: EventStore, script: list[Any], every: int
) -> None:
    tally = make_tally(snapshot_every=every)
    repo = Repository(store, tally)
    stream_id = stream()
    model = Tally()
    for name, amount, times in script:
        try:
            after = (
                repo.execute(stream_id, add, amount, times)
                if name == "add"
                else repo.execute(stream_id, close)
            )
        except DomainError:
            continue
        model = after.state
    loaded = repo.load(stream_id)
    replayed = tally.fold(Tally(), store.read_stream(stream_id, limit=1000))
    assert loaded.state == replayed == model
    assert loaded.replayed <= every
    snapshot = store.load_snapshot(stream_id)
    if snapshot is not None:
        tail = store.read_stream(stream_id, from_version=snapshot.version + 1)
        assert tally.fold(tally.from_json(snapshot.state), tail) == loaded.state
