"""AsyncEventStore against a real database: the same methods and mappings as the sync store."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import psycopg
import pytest
import pytest_asyncio
from psycopg_pool import AsyncConnectionPool

from pgeventstore import (
    NO_STREAM,
    STREAM_EXISTS,
    AsyncEventStore,
    DuplicateEventId,
    InvalidArgument,
    NewEvent,
    StreamNotFound,
    WrongExpectedVersion,
)
from pgeventstore.subscription import ConsumerGroup

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"

pytestmark = pytest.mark.asyncio


@pytest_asyncio.fixture
async def store(dsn: str) -> AsyncIterator[AsyncEventStore]:
    async with AsyncEventStore(dsn) as s:
        yield s


def events(n: int, kind: str = "Happened") -> list[NewEvent]:
    return [NewEvent(kind, {"n": i}) for i in range(n)]


async def test_append_read_and_versions(store: AsyncEventStore) -> None:
    result = await store.append("order-1", events(2), NO_STREAM)
    assert result.stream_version == 1
    single = await store.append_event("order-1", NewEvent("Shipped", {"to": "Bob"}, {"by": "me"}), 1)
    assert single.stream_version == 2
    read = await store.read_stream("order-1")
    assert [(e.version, e.type) for e in read] == [(0, "Happened"), (1, "Happened"), (2, "Shipped")]
    assert read[2].metadata == {"by": "me"}
    assert [e.version for e in await store.read_stream("order-1", backward=True, limit=2)] == [2, 1]
    assert [e.version for e in await store.read_stream("order-1", from_version=1, limit=1)] == [1]
    assert await store.stream_version("order-1") == 2
    assert await store.stream_version("absent") == -1


async def test_error_mapping(store: AsyncEventStore) -> None:
    with pytest.raises(WrongExpectedVersion) as caught:
        await store.append("s-1", events(1), STREAM_EXISTS)
    assert caught.value.actual == -1
    event_id = uuid.uuid4()
    await store.append("s-1", [NewEvent("A", {}, id=event_id)])
    with pytest.raises(DuplicateEventId):
        await store.append("s-2", [NewEvent("A", {}, id=event_id)])
    with pytest.raises(InvalidArgument):
        await store.read_stream("s-1", limit=100_001)
    with pytest.raises(StreamNotFound):
        await store.save_snapshot("absent", 0, {})


async def test_snapshots_and_load_stream(store: AsyncEventStore) -> None:
    await store.append("acc-1", events(3))
    assert await store.load_snapshot("acc-1") is None
    assert await store.save_snapshot("acc-1", 1, {"total": 1}) is True
    snap = await store.load_snapshot("acc-1")
    assert snap is not None and snap.state == {"total": 1}
    loaded = await store.load_stream("acc-1")
    assert loaded.snapshot == snap
    assert [e.version for e in loaded.events] == [2]


async def test_list_streams_and_stats(store: AsyncEventStore) -> None:
    await store.append("order-1", events(1))
    await store.append("user-1", events(2))
    assert {s.stream_id for s in await store.list_streams()} == {"order-1", "user-1"}
    assert [s.stream_id for s in await store.list_streams(category="user")] == ["user-1"]
    assert len([s async for s in store.iter_streams(page_size=1)]) == 2
    stats = await store.stats()
    assert (stats.streams, stats.events) == (2, 3)


async def test_iter_stream_pages_through_10000_events(store: AsyncEventStore) -> None:
    await store.append("long-1", events(10_000), NO_STREAM)
    forward = [e.version async for e in store.iter_stream("long-1", page_size=999)]
    assert forward == list(range(10_000))
    backward = [e.version async for e in store.iter_stream("long-1", backward=True, page_size=1000)]
    assert backward == list(range(9_999, -1, -1))


async def test_join_outer_transaction_that_rolls_back(store: AsyncEventStore, dsn: str) -> None:
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        await conn.execute("create table orders (id text primary key)")
        await conn.commit()
        async with conn.transaction(force_rollback=True):
            await conn.execute("insert into orders values ('o-1')")
            await store.append("order-1", events(2), NO_STREAM, conn=conn)
            assert await store.stream_version("order-1", conn=conn) == 1
            assert await store.stream_version("order-1") == -1
        assert await store.read_stream("order-1") == []
        cur = await conn.execute("select count(*) from orders")
        assert await cur.fetchone() == (0,)


async def test_from_connection_and_pool(dsn: str) -> None:
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        store = AsyncEventStore(conn)
        await store.append("s-1", events(2))
        assert await store.stream_version("s-1") == 1
    async with AsyncConnectionPool(dsn, kwargs={"autocommit": True}, min_size=1) as pool:
        pooled = AsyncEventStore(pool)
        assert await pooled.stream_version("s-1") == 1
        await pooled.close()
        assert not pool.closed


async def test_concurrent_appends_one_wins(store: AsyncEventStore) -> None:
    await store.append("race-1", events(1), NO_STREAM)
    results = await asyncio.gather(
        *(store.append("race-1", events(1), 0) for _ in range(5)), return_exceptions=True
    )
    wins = [r for r in results if not isinstance(r, BaseException)]
    losses = [r for r in results if isinstance(r, WrongExpectedVersion)]
    assert (len(wins), len(losses)) == (1, 4)
    assert all(loss.actual == 1 for loss in losses)


async def test_schema_version_and_is_processed(store: AsyncEventStore, dsn: str) -> None:
    newest = max(path.stem for path in MIGRATIONS.glob("*.sql"))
    assert await store.schema_version() == newest
    await store.append("order-1", events(1))
    await store.append("order-2", events(1))
    assert await store.log_head() == 2
    assert await store.number_log() == 0
    assert await store.is_processed(0, 1) is False
    assert await store.is_processed(2, 1) is True
    assert await store.is_processed(1, 2) is False


async def test_global_log_and_checkpoints(store: AsyncEventStore) -> None:
    await store.append("order-1", [NewEvent("OrderPlaced", {"n": 1})])
    await store.append("cart-1", [NewEvent("ItemAdded", {"n": 2})])
    last = await store.append("order-1", [NewEvent("OrderShipped", {"n": 3})])
    everything = [e async for e in store.read_all(page_size=2)]
    assert [e.data["n"] for e in everything] == [1, 2, 3]
    assert [e.log_number for e in everything] == [1, 2, 3]
    assert [e.data["n"] async for e in store.read_all(everything[0].log_number or 0)] == [2, 3]
    assert [e.data["n"] async for e in store.read_all(event_types=["ItemAdded"])] == [2]
    assert [e.data["n"] async for e in store.read_category("order")] == [1, 3]
    shares = [
        [e.data["n"] async for e in store.read_category("order", group=ConsumerGroup(m, 2))] for m in range(2)
    ]
    assert sorted(n for share in shares for n in share) == [1, 3]
    assert [e.data["n"] async for e in store.read_all(-5)] == [1, 2, 3], "any integer is a bound"
    with pytest.raises(InvalidArgument):
        [e async for e in store.read_all(0, page_size=0)]
    assert last.last_position == 3
    assert await store.load_checkpoint("s") == 0
    assert await store.save_checkpoint("s", 3, 0)
    assert not await store.save_checkpoint("s", 3, 0)
    assert await store.load_checkpoint("s") == 3
    (lag,) = await store.subscription_lag()
    assert (lag.subscription, lag.position, lag.events_behind) == ("s", 3, 0)
