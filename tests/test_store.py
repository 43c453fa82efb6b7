"""The synchronous EventStore against a real database: every method, every error mapping."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from pgeventstore import (
    ANY,
    NO_STREAM,
    STREAM_EXISTS,
    DuplicateEventId,
    EventsImmutable,
    EventStore,
    InvalidArgument,
    NewEvent,
    StreamNotFound,
    WrongExpectedVersion,
)
from pgeventstore.errors import translated

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


@pytest.fixture
def store(dsn: str) -> Iterator[EventStore]:
    with EventStore(dsn) as s:
        yield s


def events(n: int, kind: str = "Happened") -> list[NewEvent]:
    return [NewEvent(kind, {"n": i}) for i in range(n)]


def test_append_and_read(store: EventStore) -> None:
    first = store.append("order-1", events(2), NO_STREAM)
    assert first.stream_version == 1
    assert first.last_position == first.first_position + 1
    second = store.append_event("order-1", NewEvent("Shipped", {"to": "Bob"}, {"by": "me"}), 1)
    assert second.stream_version == 2
    read = store.read_stream("order-1")
    assert [(e.version, e.type, e.data) for e in read] == [
        (0, "Happened", {"n": 0}),
        (1, "Happened", {"n": 1}),
        (2, "Shipped", {"to": "Bob"}),
    ]
    assert read[2].metadata == {"by": "me"}
    assert read[0].metadata is None
    assert read[2].global_position == second.last_position
    assert all(e.stream_id == "order-1" and isinstance(e.id, uuid.UUID) for e in read)


def test_read_options(store: EventStore) -> None:
    store.append("s-1", events(5))
    assert [e.version for e in store.read_stream("s-1", from_version=2, limit=2)] == [2, 3]
    assert [e.version for e in store.read_stream("s-1", backward=True, limit=2)] == [4, 3]
    assert [e.version for e in store.read_stream("s-1", from_version=1, backward=True)] == [1, 0]
    assert store.read_stream("absent") == []


def test_expected_version_spellings(store: EventStore) -> None:
    with pytest.raises(WrongExpectedVersion):
        store.append("s-1", events(1), STREAM_EXISTS)
    store.append("s-1", events(1), NO_STREAM)
    store.append("s-1", events(1), STREAM_EXISTS)
    store.append("s-1", events(1), ANY)
    assert store.stream_version("s-1") == 2
    assert store.stream_version("absent") == -1


def test_wrong_expected_version_carries_versions(store: EventStore) -> None:
    store.append("s-1", events(3))
    with pytest.raises(WrongExpectedVersion) as caught:
        store.append("s-1", events(1), 0)
    assert (caught.value.stream_id, caught.value.expected, caught.value.actual) == ("s-1", 0, 2)
    assert caught.value.sqlstate == "ES409"


def test_duplicate_event_id(store: EventStore) -> None:
    event_id = uuid.uuid4()
    store.append("s-1", [NewEvent("A", {}, id=event_id)])
    with pytest.raises(DuplicateEventId) as caught:
        store.append("s-2", [NewEvent("A", {}, id=event_id)])
    assert caught.value.event_id == str(event_id)
    assert caught.value.stream_id == "s-1"


def test_retry_with_ids_is_idempotent(store: EventStore) -> None:
    batch = [NewEvent("A", {"i": i}, id=uuid.uuid4()) for i in range(3)]
    first = store.append("s-1", batch, NO_STREAM)
    assert store.append("s-1", batch, NO_STREAM) == first
    assert store.stream_version("s-1") == 2


def test_invalid_argument_and_not_found(store: EventStore) -> None:
    with pytest.raises(InvalidArgument) as caught:
        store.read_stream("s-1", limit=0)
    assert caught.value.hint
    with pytest.raises(InvalidArgument):
        store.append("", events(1))
    with pytest.raises(StreamNotFound):
        store.save_snapshot("absent", 0, {})


def test_snapshots_and_load_stream(store: EventStore) -> None:
    store.append("acc-1", events(4))
    assert store.load_snapshot("acc-1") is None
    assert store.save_snapshot("acc-1", 2, {"total": 3}, 2) is True
    assert store.save_snapshot("acc-1", 1, {"total": 1}) is False
    snap = store.load_snapshot("acc-1")
    assert snap is not None
    assert (snap.stream_id, snap.version, snap.state, snap.schema_version) == ("acc-1", 2, {"total": 3}, 2)
    loaded = store.load_stream("acc-1")
    assert loaded.snapshot == snap
    assert [e.version for e in loaded.events] == [3]
    assert loaded.version == 3
    other_schema = store.load_stream("acc-1", 1)
    assert other_schema.snapshot is None
    assert len(other_schema.events) == 4


def test_list_streams_and_stats(store: EventStore) -> None:
    for stream in ["order-1", "order-2", "user-1"]:
        store.append(stream, events(2 if stream == "order-2" else 1))
    listed = store.list_streams()
    assert sorted((s.stream_id, s.version) for s in listed) == [("order-1", 0), ("order-2", 1), ("user-1", 0)]
    assert {s.stream_id for s in store.list_streams(category="order")} == {"order-1", "order-2"}
    page = store.list_streams(limit=2)
    rest = store.list_streams(limit=2, after=page[-1].stream_id)
    assert [s.stream_id for s in page + rest] == [s.stream_id for s in listed]
    assert [s.stream_id for s in store.iter_streams(page_size=1)] == [s.stream_id for s in listed]
    with pytest.raises(StreamNotFound):
        store.list_streams(after="absent")
    stats = store.stats()
    assert (stats.streams, stats.events, stats.snapshots) == (3, 4, 0)
    assert [(c.name, c.streams, c.events) for c in stats.categories] == [("order", 2, 3), ("user", 1, 1)]
    assert [(t.name, t.events) for t in stats.types] == [("Happened", 4)]
    assert stats.disk_bytes > stats.payload_bytes > 0


def test_schema_version_is_the_newest_migration(store: EventStore, dsn: str) -> None:
    newest = max(path.stem for path in MIGRATIONS.glob("*.sql"))
    assert store.schema_version() == newest
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("insert into eventstore.schema_migrations (migration_id) values ('9999.later')")
    assert store.schema_version() == "9999.later"


def test_log_numbers_follow_log_order_not_positions(store: EventStore, dsn: str) -> None:
    store.append("order-1", events(1))
    # The older transaction takes its xid first, the younger one then takes a smaller
    # position: in log order the older transaction's later position comes first.
    with psycopg.connect(dsn) as older, psycopg.connect(dsn, autocommit=True) as younger:
        store.append("order-2", events(1), conn=older)
        small = store.append("order-3", events(1), conn=younger).last_position
        large = store.append("order-4", events(1), conn=older).last_position
        older.commit()
    assert small < large
    log = list(store.read_all())
    assert [e.log_number for e in log] == [1, 2, 3, 4]
    # The older transaction's events sort first: they record its smaller transaction id.
    assert [e.stream_id for e in log] == ["order-1", "order-2", "order-4", "order-3"]
    assert [e.global_position for e in log][2:] == [large, small]
    assert store.log_head() == 4
    assert store.is_processed(2, 3) is False
    assert store.is_processed(3, 2) is True
    with pytest.raises(InvalidArgument):
        store.save_checkpoint("s", -1)
    with pytest.raises(StreamNotFound):
        store.save_checkpoint("s", 99)


def test_direct_update_of_an_event_is_events_immutable(store: EventStore, dsn: str) -> None:
    store.append("order-1", events(1))
    statements = [
        "update eventstore.events set data = '{}' where stream_id = 'order-1'",
        "delete from eventstore.events where stream_id = 'order-1'",
        "truncate eventstore.events cascade",
    ]
    with psycopg.connect(dsn, autocommit=True) as conn:
        for statement in statements:
            with pytest.raises(EventsImmutable) as caught, translated():
                conn.execute(statement)
            assert caught.value.sqlstate == "ES423"
            assert caught.value.hint and "correcting event" in caught.value.hint
    assert [e.data for e in store.read_stream("order-1")] == [{"n": 0}]


def test_iter_stream_pages_through_10000_events(store: EventStore) -> None:
    store.append("long-1", events(10_000), NO_STREAM)
    forward = [e.version for e in store.iter_stream("long-1", page_size=999)]
    assert forward == list(range(10_000))
    backward = [e.version for e in store.iter_stream("long-1", backward=True, page_size=1000)]
    assert backward == list(range(9_999, -1, -1))
    assert [e.version for e in store.iter_stream("long-1", from_version=9_998)] == [9_998, 9_999]


def test_iter_stream_is_lazy(store: EventStore, dsn: str) -> None:
    store.append("long-1", events(30))
    iterator = store.iter_stream("long-1", page_size=10)
    assert next(iterator).version == 0
    # Appended after the first page was read: a lazy iterator still sees it.
    store.append("long-1", events(1))
    assert sum(1 for _ in iterator) == 30


def test_join_outer_transaction_that_rolls_back(store: EventStore, dsn: str) -> None:
    with psycopg.connect(dsn) as conn:
        conn.execute("create table orders (id text primary key)")
        conn.commit()
        with conn.transaction(force_rollback=True):
            conn.execute("insert into orders values ('o-1')")
            store.append("order-1", events(2), NO_STREAM, conn=conn)
            assert store.stream_version("order-1", conn=conn) == 1
            assert store.stream_version("order-1") == -1
        assert store.read_stream("order-1") == []
        assert conn.execute("select count(*) from orders").fetchone() == (0,)


def test_join_outer_transaction_that_commits(store: EventStore, dsn: str) -> None:
    with psycopg.connect(dsn) as conn:
        with conn.transaction():
            store.append("order-1", events(1), conn=conn)
            store.save_snapshot("order-1", 0, {"ok": True}, conn=conn)
        assert store.stream_version("order-1") == 0
        assert store.load_snapshot("order-1") is not None


def test_failed_call_inside_outer_transaction_aborts_it(store: EventStore, dsn: str) -> None:
    with psycopg.connect(dsn) as conn:
        with pytest.raises(WrongExpectedVersion), conn.transaction():
            store.append("s-1", events(1), conn=conn)
            store.append("s-1", events(1), NO_STREAM, conn=conn)
        assert store.stream_version("s-1") == -1


def test_from_connection_and_pool(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True, row_factory=dict_row) as conn:
        store = EventStore(conn)
        store.append("s-1", events(2))
        assert [e.version for e in store.read_stream("s-1")] == [0, 1]
    with ConnectionPool(dsn, kwargs={"autocommit": True}, min_size=1) as pool:
        pooled = EventStore(pool)
        assert pooled.stream_version("s-1") == 1
        pooled.close()
        assert not pool.closed


def test_custom_codec_hooks(dsn: str) -> None:
    class Money:
        def __init__(self, cents: int) -> None:
            self.cents = cents

    def default(value: object) -> object:
        if isinstance(value, Money):
            return {"cents": value.cents}
        raise TypeError

    with EventStore(dsn, default=default, loads=lambda text: ("parsed", text)) as store:
        store.append("s-1", [NewEvent("Paid", {"amount": Money(42), "id": uuid.UUID(int=1)})])
        (event,) = store.read_stream("s-1")
        assert event.data[0] == "parsed"
        assert '"cents": 42' in event.data[1]
        assert "00000000-0000-0000-0000-000000000001" in event.data[1]


def test_connection_errors_stay_psycopgs() -> None:
    bad = "host=127.0.0.1 port=1 connect_timeout=1"
    with ConnectionPool(bad, min_size=1, timeout=1) as pool, pytest.raises(psycopg.OperationalError):
        EventStore(pool).stream_version("s-1")
