"""AsyncRepository: the same steps as Repository, awaited, over AsyncEventStore."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import psycopg
import pytest
import pytest_asyncio

from pgeventstore import (
    AsyncEventStore,
    AsyncRepository,
    CommandContext,
    DomainError,
    EventStore,
    NewEvent,
    Repository,
    RetryPolicy,
    WrongExpectedVersion,
)
from test_aggregate import Tally, add, make_tally

pytestmark = pytest.mark.asyncio


@pytest_asyncio.fixture
async def store(dsn: str) -> AsyncIterator[AsyncEventStore]:
    async with AsyncEventStore(dsn) as opened:
        yield opened


def stream() -> str:
    return f"tally-{uuid.uuid4().hex[:8]}"


async def test_execute_load_and_snapshot_like_the_sync_repository(store: AsyncEventStore, dsn: str) -> None:
    repo = AsyncRepository(store, make_tally(snapshot_every=3))
    stream_id = stream()
    context = CommandContext(correlation_id="c-1", causation_id="k-1")
    after = await repo.execute(stream_id, add, 2, 2, context=context)
    assert (after.state, after.version, after.snapshot_version) == (Tally(4, (2, 2)), 1, None)
    after = await repo.execute(stream_id, add, 5)
    assert (after.version, after.snapshot_version) == (2, 2)
    with pytest.raises(DomainError):
        await repo.execute(stream_id, add, 0)
    loaded = await repo.load(stream_id)
    assert (loaded.state, loaded.snapshot_version, loaded.replayed) == (after.state, 2, 0)
    with EventStore(dsn) as sync_store:
        assert Repository(sync_store, make_tally(snapshot_every=3)).load(stream_id) == loaded
        metadata = sync_store.read_stream(stream_id)[0].metadata
    assert metadata == {"schema_version": 2, "correlation_id": "c-1", "causation_id": "k-1"}


async def test_retries_are_bounded(store: AsyncEventStore, dsn: str) -> None:
    stream_id = stream()
    calls = []

    def interfering(state: Tally) -> list[NewEvent]:
        calls.append(state.total)
        with EventStore(dsn) as other:
            other.append(stream_id, [NewEvent("Added", {"amount": 1}, {"schema_version": 2})])
        return add(state, 1)

    tally = make_tally()
    tally.handler(interfering)
    with pytest.raises(WrongExpectedVersion):
        await AsyncRepository(store, tally, retry=RetryPolicy(attempts=3)).execute(stream_id, interfering)
    assert calls == [0, 1, 2]


async def test_concurrent_tasks_lose_no_update(dsn: str) -> None:
    stream_id = stream()
    writers, commands = 5, 12

    async def work(offset: int) -> None:
        async with AsyncEventStore(dsn) as own:
            repo = AsyncRepository(own, make_tally(snapshot_every=5), retry=RetryPolicy(attempts=200))
            for n in range(commands):
                await repo.execute(stream_id, add, offset * 100 + n + 1)

    await asyncio.gather(*(work(i) for i in range(writers)))
    async with AsyncEventStore(dsn) as fresh:
        loaded = await AsyncRepository(fresh, make_tally(snapshot_every=5)).load(stream_id)
    assert len(loaded.state.entries) == writers * commands
    assert loaded.version == writers * commands - 1
    assert loaded.replayed < 5


async def test_execute_joins_the_callers_transaction(store: AsyncEventStore, dsn: str) -> None:
    repo = AsyncRepository(store, make_tally(snapshot_every=1))
    stream_id = stream()
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        await conn.execute("create table if not exists public.receipts (stream_id text, total bigint)")
        with pytest.raises(RuntimeError, match="abandon"):
            async with conn.transaction():
                after = await repo.execute(stream_id, add, 5, conn=conn)
                await conn.execute(
                    "insert into public.receipts values (%s, %s)", (stream_id, after.state.total)
                )
                assert (after.version, after.snapshot_version) == (0, 0)
                raise RuntimeError("abandon the order")
        assert (await repo.load(stream_id)).version == -1
        assert await store.load_snapshot(stream_id) is None
        async with conn.transaction():
            after = await repo.execute(stream_id, "add", 7, conn=conn)
            await conn.execute("insert into public.receipts values (%s, %s)", (stream_id, after.state.total))
        loaded = await repo.load(stream_id)
        assert (loaded.state.total, loaded.version, loaded.snapshot_version) == (7, 0, 0)
        cursor = await conn.execute("select total from public.receipts where stream_id = %s", (stream_id,))
        assert await cursor.fetchall() == [(7,)]
