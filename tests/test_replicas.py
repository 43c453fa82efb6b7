"""Reads on hot standbys: the store's replicas, subscriptions and projections, the command line.

One primary and one hot standby streaming from it (pg_basebackup -R), on 127.0.0.1 only
(tests/cluster_support.py). The standby is made to lag on purpose by pausing its replay
(``pg_wal_replay_pause()``): a read that goes to it then returns its older state, which
shows where a read went; a read that must wait for it waits, and goes to the primary
after the store's ``replica_timeout``. The primary commits synchronously, as a
production primary does, so a commit is sent to the standby as it is made. The last
test makes the standby synchronous, cuts it off while an append waits for it, and
promotes it (docs/scaling.md, "High availability").
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import psycopg
import pytest
from click.testing import CliRunner

from cluster_support import (
    PRIMARY_SETTINGS,
    clusters,
    connect,
    create_store,
    execute,
    one,
    replayed,
    wait_for,
)
from pgeventstore import (
    AsyncEventStore,
    AsyncProjection,
    AsyncSubscription,
    EventStore,
    NewEvent,
    RecordedEvent,
    WalPosition,
)
from pgeventstore.cli import EXIT_CANNOT_CONNECT, EXIT_USAGE, main
from pgeventstore.cluster import Cluster
from pgeventstore.errors import ReadOnlyStore
from pgeventstore.subscription import Projection, Subscription, follow
from pgeventstore.values import LogFilter

T = TypeVar("T")

#: A primary whose commits are flushed, so sent to the standby, as they are made.
SETTINGS = {**PRIMARY_SETTINGS, "synchronous_commit": "on"}


@dataclass
class Pair:
    """The module's primary and standby."""

    primary: Cluster
    standby: Cluster
    #: The standby was promoted (the last test does it): the pair is no longer one.
    promoted: bool = False

    def store(self, dbname: str) -> tuple[str, str]:
        """A new store ``dbname`` on the primary, replayed on the standby: both DSNs."""
        assert not self.promoted, "the module's standby was promoted: add tests before the failover test"
        primary_dsn = create_store(self.primary, dbname)
        replayed(self.primary, self.standby)
        return primary_dsn, self.standby.dsn(dbname)

    def pause(self) -> None:
        """Stop the standby's replay: it keeps what it has, and lags from now on."""
        execute(self.standby.dsn(), "select pg_wal_replay_pause()")
        wait_for(
            lambda: one(self.standby.dsn(), "select pg_get_wal_replay_pause_state()") == "paused",
            "the replay to pause",
        )

    def resume(self) -> None:
        execute(self.standby.dsn(), "select pg_wal_replay_resume()")

    def resume_after(self, seconds: float) -> threading.Thread:
        """Resume the replay in ``seconds`` from now, in a thread of its own."""
        thread = threading.Thread(target=lambda: (time.sleep(seconds), self.resume()))
        thread.start()
        return thread


@pytest.fixture(scope="module")
def pair() -> Iterator[Pair]:
    with clusters() as made:
        primary = made.primary("primary", settings=SETTINGS)
        yield Pair(primary, made.standby(primary, "standby"))


@pytest.fixture
def paused(pair: Pair) -> Iterator[Pair]:
    """The pair; the standby's replay is resumed after the test whatever happened."""
    try:
        yield pair
    finally:
        pair.resume()


def timed(function: Callable[[], T]) -> tuple[T, float]:
    started = time.monotonic()
    result = function()
    return result, time.monotonic() - started


def events(prefix: str, count: int) -> list[NewEvent]:
    return [NewEvent("Happened", {"n": n, "of": prefix}) for n in range(count)]


def test_reads_go_to_a_replica_only_when_asked_and_writes_to_the_primary(paused: Pair) -> None:
    primary_dsn, standby_dsn = paused.store("reads")
    with EventStore(primary_dsn, replicas=[standby_dsn]) as store:
        store.append("order-1", events("before", 3))
        store.save_snapshot("order-1", 2, {"total": 3})
        replayed(paused.primary, paused.standby)
        head_before = store.log_head()
        paused.pause()
        store.append("order-1", events("after", 2))
        store.append("invoice-1", events("after", 1))
        store.save_snapshot("order-1", 4, {"total": 5})
        # The default is the primary: every write is there at once.
        assert len(store.read_stream("order-1")) == 5
        assert store.stream_version("invoice-1") == 0
        assert store.load_stream("order-1").version == 4
        assert store.log_head() == head_before + 3
        # replica=True: the standby's state, older by what it has not replayed.
        assert len(store.read_stream("order-1", replica=True)) == 3
        assert [e.version for e in store.iter_stream("order-1", page_size=2, replica=True)] == [0, 1, 2]
        assert store.stream_version("invoice-1", replica=True) == -1
        loaded = store.load_stream("order-1", replica=True)
        assert loaded.snapshot is not None and loaded.snapshot.version == 2 and loaded.version == 2
        snapshot = store.load_snapshot("order-1", replica=True)
        assert snapshot is not None and snapshot.state == {"total": 3}
        assert [s.stream_id for s in store.list_streams(replica=True)] == ["order-1"]
        assert [s.stream_id for s in store.iter_streams(page_size=1, replica=True)] == ["order-1"]
        assert store.stats(replica=True).events == 3
        assert store.log_head(replica=True) == head_before
        assert len(list(store.read_all(replica=True))) == head_before
        assert len(list(store.read_category("order", replica=True))) == head_before
        # A checkpoint is saved on the primary even when its event was read on the replica.
        assert store.save_checkpoint("reader", head_before + 3)
        assert store.load_checkpoint("reader") == head_before + 3
    with EventStore(standby_dsn) as on_standby, pytest.raises(ReadOnlyStore):
        on_standby.append("order-1", events("refused", 1))


def test_read_your_writes_waits_for_the_replica_then_goes_to_the_primary(paused: Pair) -> None:
    primary_dsn, standby_dsn = paused.store("ryw")
    paused.pause()
    with EventStore(primary_dsn, replicas=[standby_dsn], replica_timeout=30) as store:
        store.append("order-1", events("paused", 4))
        position = store.wal_position()
        assert isinstance(position, WalPosition)
        # The replica has not replayed it: the read waits until it has (the resume), and
        # reads it there, long before the 30 s after which it would read the primary.
        resumer = paused.resume_after(0.6)
        page, waited = timed(lambda: store.read_stream("order-1", replica=position))
        resumer.join()
        assert len(page) == 4 and 0.5 < waited < 10
        # The log too: wal_position numbered it on the primary first.
        assert [e.log_number for e in store.read_all(replica=store.wal_position())] == [1, 2, 3, 4]
    paused.pause()
    with EventStore(primary_dsn, replicas=[standby_dsn], replica_timeout=0.3) as store:
        store.append("order-1", events("still paused", 1))
        position = store.wal_position()
        # After replica_timeout the read goes to the primary, which has the write.
        (page, waited) = timed(lambda: store.read_stream("order-1", replica=position))
        assert len(page) == 5 and 0.3 <= waited < 5
        assert len(store.read_stream("order-1", replica=True)) == 4
    # A replica that is not in recovery (here the primary itself) cannot show that it
    # replayed a position: the read goes to the primary at once, without waiting.
    with EventStore(primary_dsn, replicas=[primary_dsn], replica_timeout=30) as store:
        (page, waited) = timed(lambda: store.read_stream("order-1", replica=store.wal_position()))
        assert len(page) == 5 and waited < 5


def test_subscription_waits_for_a_standby_behind_its_checkpoint_then_reads_it(paused: Pair) -> None:
    """The checkpoint, kept on the primary, is ahead of the paused standby: no ES404, a bounded wait."""
    primary_dsn, standby_dsn = paused.store("subscription")
    delivered: list[RecordedEvent] = []
    with EventStore(primary_dsn, replicas=[standby_dsn], replica_timeout=30) as store:
        for n in range(10):
            store.append(f"order-{n}", events("first", 3))
        mailer = Subscription(store, "mailer", delivered.append, batch_size=7)
        assert mailer.catch_up() == 30
        assert store.load_checkpoint("mailer") == 30
        paused.pause()
        for n in range(5):
            store.append(f"order-{n}", events("second", 2))
        # The same subscription run on the primary alone moves the checkpoint past
        # everything the standby has.
        with EventStore(primary_dsn) as plain:
            assert Subscription(plain, "mailer", delivered.append).catch_up() == 10
        assert one(standby_dsn, "select eventstore.log_head()") == 30
        for n in range(3):
            store.append(f"order-{n}", events("third", 1))
        # Checkpoint 40 is not on the standby: the subscription waits for its replay
        # (the resume) instead of failing or reading nothing.
        resumer = paused.resume_after(0.6)
        handled, waited = timed(mailer.catch_up)
        resumer.join()
        assert handled == 3 and 0.5 < waited < 10
    assert [e.log_number for e in delivered] == list(range(1, 44))
    assert one(primary_dsn, "select eventstore.load_checkpoint('mailer')") == 43


def test_subscription_on_a_standby_that_stays_behind_reads_the_primary_after_the_timeout(
    paused: Pair,
) -> None:
    primary_dsn, standby_dsn = paused.store("timeout")
    delivered: list[RecordedEvent] = []
    with EventStore(primary_dsn, replicas=[standby_dsn], replica_timeout=0.3) as store:
        store.append("order-1", events("first", 2))
        paused.pause()
        store.append("order-1", events("second", 3))
        handled, waited = timed(Subscription(store, "mailer", delivered.append).catch_up)
        assert handled == 5 and 0.3 <= waited < 5
        assert store.log_head(replica=True) == 0
    assert [e.log_number for e in delivered] == [1, 2, 3, 4, 5]


def test_projection_reads_the_standby_and_commits_on_the_primary(paused: Pair) -> None:
    primary_dsn, standby_dsn = paused.store("projection")
    execute(primary_dsn, "create table totals (stream_id text primary key, events int not null)")

    def handler(conn: psycopg.Connection[Any], event: RecordedEvent) -> None:
        conn.execute(
            "insert into totals values (%s, 1)"
            " on conflict (stream_id) do update set events = totals.events + 1",
            (event.stream_id,),
        )

    def reset(conn: psycopg.Connection[Any]) -> None:
        conn.execute("truncate totals")

    with EventStore(primary_dsn, replicas=[standby_dsn], replica_timeout=30) as store:
        projection = Projection(store, "totals", handler, reset=reset, batch_size=4)
        for n in range(6):
            store.append(f"cart-{n % 2}", events("first", 2))
        assert projection.catch_up() == 12
        paused.pause()
        store.append("cart-2", events("second", 5))
        resumer = paused.resume_after(0.6)
        handled, waited = timed(projection.catch_up)
        resumer.join()
        assert handled == 5 and 0.5 < waited < 10
        assert store.load_checkpoint("totals") == 17
        with store.connection() as conn:
            assert projection.apply_batch(conn) == 0
        assert projection.rebuild() == 17
    with connect(primary_dsn) as conn:
        assert conn.execute("select * from totals order by 1").fetchall() == [
            ("cart-0", 6),
            ("cart-1", 6),
            ("cart-2", 5),
        ]


def test_async_store_subscription_and_projection_read_the_standby(paused: Pair) -> None:
    primary_dsn, standby_dsn = paused.store("async")
    execute(primary_dsn, "create table seen (log_number bigint primary key)")

    async def record(conn: psycopg.AsyncConnection[Any], event: RecordedEvent) -> None:
        await conn.execute("insert into seen values (%s)", (event.log_number,))

    async def scenario() -> tuple[list[RecordedEvent], list[float]]:
        delivered: list[RecordedEvent] = []
        waits: list[float] = []
        async with AsyncEventStore(primary_dsn, replicas=[standby_dsn], replica_timeout=30) as store:
            projection = AsyncProjection(store, "seen", record)
            await store.append("order-1", events("first", 2))
            assert await AsyncSubscription(store, "mailer", delivered.append).catch_up() == 2
            assert await projection.catch_up() == 2
            await asyncio.to_thread(paused.pause)
            await store.append("order-1", events("second", 3))
            assert len(await store.read_stream("order-1", replica=True)) == 2
            assert len(await store.read_stream("order-1")) == 5
            # Each catches up while the standby lacks its last events: it waits for them.
            for follower, appended, handled in (
                (AsyncSubscription(store, "mailer", delivered.append), 0, 3),
                (projection, 2, 5),
            ):
                await asyncio.to_thread(paused.pause)
                if appended:
                    await store.append("order-2", events("third", appended))
                started = time.monotonic()
                resumer = paused.resume_after(0.6)
                assert await follower.catch_up() == handled
                waits.append(time.monotonic() - started)
                await asyncio.to_thread(resumer.join)
            assert len(await store.read_stream("order-2", replica=await store.wal_position())) == 2
            assert await store.load_checkpoint("seen") == 7
        return delivered, waits

    delivered, waits = asyncio.run(scenario())
    assert all(0.5 < waited < 10 for waited in waits), waits
    assert [e.log_number for e in delivered] == [1, 2, 3, 4, 5]
    with connect(primary_dsn) as conn:
        assert [n for (n,) in conn.execute("select log_number from seen order by 1")] == list(range(1, 8))


def stuttering_run(pair: Pair, dbname: str, appends: int) -> None:
    """Four writers append (and roll back) while the standby's replay pauses and resumes.

    A live subscription reading the standby must deliver exactly the primary's log.
    """
    primary_dsn, standby_dsn = pair.store(dbname)
    delivered: list[RecordedEvent] = []
    stop_stutter = threading.Event()
    errors: list[BaseException] = []

    def guarded(function: Callable[[], object]) -> Callable[[], None]:
        def run() -> None:
            try:
                function()
            except BaseException as error:
                errors.append(error)

        return run

    def writer(seed: int) -> None:
        with EventStore(primary_dsn) as store, store.connection() as conn:
            for n in range(appends):
                if n % 10 == 3:
                    # A rolled-back append: it must never be delivered.
                    with pytest.raises(RuntimeError), conn.transaction():
                        store.append(f"acct-{seed}-{n % 7}", events("rolled back", 1), conn=conn)
                        raise RuntimeError
                store.append(f"acct-{seed}-{n % 7}", events("kept", 1 + n % 3), conn=conn)

    def stutter() -> None:
        while not stop_stutter.is_set():
            execute(standby_dsn, "select pg_wal_replay_pause()")
            time.sleep(0.15)
            execute(standby_dsn, "select pg_wal_replay_resume()")
            time.sleep(0.05)

    with EventStore(primary_dsn, replicas=[standby_dsn], replica_timeout=30) as store:
        subscription = Subscription(store, "ledger", delivered.append, batch_size=50, poll_interval=0.05)
        follower = threading.Thread(target=guarded(subscription.run))
        stutterer = threading.Thread(target=guarded(stutter))
        writers = [threading.Thread(target=guarded(lambda s=seed: writer(s))) for seed in range(4)]
        for thread in [follower, stutterer, *writers]:
            thread.start()
        for thread in writers:
            thread.join()
        stop_stutter.set()
        stutterer.join()
        pair.resume()
        final = list(store.read_all())
        wait_for(lambda: len(delivered) >= len(final) or bool(errors), f"{len(final)} events delivered")
        subscription.stop()
        follower.join(timeout=30)
        assert not errors, errors
        assert store.load_checkpoint("ledger") == len(final)
    assert len(final) == 4 * sum(1 + n % 3 for n in range(appends))
    ids = [e.id for e in delivered]
    print(f"\nlive subscription on a stuttering standby: {len(ids)} events, {len(set(ids))} distinct")
    assert ids == [e.id for e in final]


def test_a_live_subscription_on_a_stuttering_standby_gets_exactly_the_primary_log(paused: Pair) -> None:
    stuttering_run(paused, "live", appends=150)


@pytest.mark.soak
def test_soak_live_subscription_on_a_stuttering_standby(paused: Pair) -> None:
    stuttering_run(paused, "live_soak", appends=5000)


def test_follow_reads_the_standby(paused: Pair) -> None:
    primary_dsn, standby_dsn = paused.store("follow")
    with EventStore(primary_dsn, replicas=[standby_dsn], replica_timeout=30) as store:
        store.append("order-1", events("first", 2))
        live = follow(store, 0, LogFilter(category="order"), poll_interval=0.05)
        assert [next(live).log_number for _ in range(2)] == [1, 2]
        paused.pause()
        store.append("order-1", events("second", 1))
        resumer = paused.resume_after(0.6)
        third, waited = timed(lambda: next(live))
        resumer.join()
        live.close()
        assert third.log_number == 3 and 0.5 < waited < 10


def test_command_line_reads_a_replica(paused: Pair) -> None:
    primary_dsn, standby_dsn = paused.store("cli")
    with EventStore(primary_dsn) as store:
        store.append("order-1", events("first", 2))
        store.save_snapshot("order-1", 1, {"n": 2})
        assert store.log_head() == 2
    replayed(paused.primary, paused.standby)
    paused.pause()
    with EventStore(primary_dsn) as store:
        store.append("order-1", events("second", 1))

    def cli(*args: str) -> str:
        result = CliRunner().invoke(main, ["--dsn", primary_dsn, *args])
        assert result.exit_code == 0, result.output
        return result.output

    assert len(cli("read", "order-1", "--json").splitlines()) == 3
    assert len(cli("read", "order-1", "--json", "--replica", standby_dsn).splitlines()) == 2
    assert '"events": 2' in cli("stats", "--json", "--replica", standby_dsn)
    assert "order-1" in cli("streams", "--replica", standby_dsn)
    assert '"version": 1' in cli("snapshot", "order-1", "--json", "--replica", standby_dsn)
    # tail reads the standby once it has replayed what the primary numbered: it waits.
    resumer = paused.resume_after(0.6)
    output, waited = timed(lambda: cli("tail", "--no-follow", "--replica", standby_dsn))
    resumer.join()
    assert [line.split("\t")[0] for line in output.splitlines()] == ["1", "2", "3"]
    assert 0.5 < waited < 5
    # export too: the standby's snapshot, once it has the numbers the primary assigned.
    paused.pause()
    with EventStore(primary_dsn) as store:
        store.append("order-2", events("third", 1))
    resumer = paused.resume_after(0.6)
    exported, waited = timed(lambda: cli("export", "--replica", standby_dsn))
    resumer.join()
    assert [json.loads(line)["log_number"] for line in exported.splitlines()] == [1, 2, 3, 4]
    assert 0.5 < waited < 5
    # A replica that does not answer is the error of any database that does not.
    unreachable = CliRunner().invoke(
        main,
        ["--dsn", primary_dsn, "read", "order-1", "--replica", "host=127.0.0.1 port=1 connect_timeout=2"],
    )
    assert unreachable.exit_code == EXIT_CANNOT_CONNECT
    malformed = CliRunner().invoke(main, ["--dsn", primary_dsn, "stats", "--replica", "not a dsn"])
    assert (
        malformed.exit_code == EXIT_USAGE and "--replica: not a libpq connection string" in malformed.output
    )


def test_failover_to_a_synchronous_standby_keeps_every_cursor_and_checkpoint(pair: Pair) -> None:
    """docs/scaling.md: a commit the standby has not confirmed is seen by no reader, so none is lost.

    It promotes the module's standby: it runs last, and the pair serves no test after it.
    """
    primary, standby = pair.primary, pair.standby
    pair.promoted = True
    # Set on the primary only (not copied to the standby): the promoted standby must
    # not wait for standbys of its own.
    execute(primary.dsn(), "alter system set synchronous_standby_names = '*'", "select pg_reload_conf()")
    wait_for(
        lambda: one(primary.dsn(), "select count(*) from pg_stat_replication where sync_state = 'sync'") == 1,
        "a synchronous standby",
    )
    primary_dsn = create_store(primary, "shop")
    standby_dsn = standby.dsn("shop")
    delivered: list[RecordedEvent] = []
    with EventStore(primary_dsn, replicas=[standby_dsn]) as store:
        for n in range(20):
            store.append(f"order-{n % 6}", events("placed", 2))
        assert Subscription(store, "mailer", delivered.append).catch_up() == 40
        for n in range(5):
            store.append(f"order-{n}", events("paid", 1))
        # A reader on the primary numbers and gets these five, and keeps its cursor only.
        seen = list(store.read_all(40))
    assert [e.log_number for e in seen] == [41, 42, 43, 44, 45]

    # The standby stops receiving: the next commit waits for it, and nobody sees it.
    execute(standby.dsn(), "alter system set primary_conninfo = ''", "select pg_reload_conf()")
    wait_for(lambda: one(standby.dsn(), "select count(*) from pg_stat_wal_receiver") == 0, "no walreceiver")
    outcome: list[BaseException | None] = []

    def unconfirmed_append() -> None:
        try:
            with psycopg.connect(primary_dsn, autocommit=True) as conn:
                conn.execute("select eventstore.append_event('order-9', null, 'Lost', '{}')")
            outcome.append(None)
        except BaseException as error:
            outcome.append(error)

    appender = threading.Thread(target=unconfirmed_append)
    appender.start()
    wait_for(
        lambda: one(primary_dsn, "select count(*) from pg_stat_activity where wait_event = 'SyncRep'") == 1,
        "the append to wait for the standby",
    )
    with EventStore(primary_dsn) as store:
        assert list(store.read_all(45)) == [] and store.log_head() == 45
        assert store.stream_version("order-9") == -1
    primary.stop("immediate")
    appender.join(timeout=30)
    assert len(outcome) == 1 and isinstance(outcome[0], psycopg.OperationalError), outcome

    standby.promote()
    with EventStore(standby_dsn) as promoted:
        # Every cursor a reader was given is still valid there, and the checkpoint too.
        for event in (delivered[-1], *seen):
            after = promoted.read_log(LogFilter(), event.log_number, after_event_id=event.id)
            assert [e.id for e in after] == [e.id for e in seen if e.log_number > event.log_number]
        assert promoted.load_checkpoint("mailer") == 40
        promoted.append("order-0", events("after the failover", 1))
        resumed: list[RecordedEvent] = []
        assert Subscription(promoted, "mailer", resumed.append).catch_up() == 6
    assert [e.id for e in resumed[:5]] == [e.id for e in seen]
    assert [e.log_number for e in resumed] == [41, 42, 43, 44, 45, 46]
