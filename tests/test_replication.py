"""The global log across clusters: a hot standby, a logical subscriber and its cutover, a failover.

Real clusters started here (tests/cluster_support.py), on 127.0.0.1 only:

* a primary that is also the logical publisher, in transaction id epoch 1 as a cluster
  that ran for a while is, so every id it records is ahead of the subscriber's;
* a hot standby streaming from it (pg_basebackup -R);
* a logical subscriber with the store installed, subscribed with the publication of
  docs/moving.md ("Logical replication").

The torture of tests/test_global_log.py writes on the primary while a reader there numbers
the log, and readers page ``read_all`` by log number on the standby and on the subscriber:
each must get exactly the primary's log. Then the cutover of docs/moving.md. Other
databases on the same clusters cover the initial copy, a subscriber lagging behind a
cursor, and first appends racing at a cutover. The failover of docs/moving.md
("Failover") runs on a primary and an asynchronous standby of its own.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pytest

from cluster_support import clusters, connect, create_store, execute, one, replayed, wait_for
from pgeventstore.cluster import Cluster
from pgeventstore.errors import LogDiverged, ReadOnlyStore
from pgeventstore.store import EventStore, LogFilter
from pgeventstore.subscription import Subscription
from pgeventstore.values import NewEvent, RecordedEvent
from test_global_log import READ_ALL, Row, Torture, append, assert_stream_order, read_committed_log

#: read_all naming the event the cursor is at, so a diverged log is ES419, never a skip.
READ_AFTER = (
    "select log_number, stream_id, version, event_id from eventstore.read_all(%s, %s, null, null, %s)"
)
#: The publication of docs/moving.md, "Logical replication".
#: The store's tables as docs/moving.md publishes them: all but log_frame and
#: schema_migrations, which belong to each database.
PUBLICATION = (
    "create publication eventstore for table eventstore.events, eventstore.log, "
    "eventstore.snapshots, eventstore.checkpoints, eventstore.stream_metadata, "
    "eventstore.scavenges, eventstore.subject_keys, eventstore.subject_streams, eventstore.redactions, "
    "eventstore.tracking, eventstore.stream_starts"
)
#: The initial copy is over when this is 0: every table is ready.
COPYING = "select count(*) from pg_subscription_rel where srsubstate <> 'r'"
#: A table's state in the subscription: 'r' (ready) once copied and caught up.
COPY_STATE = "select srsubstate from pg_subscription_rel where srrelid = %s::regclass"
#: The events whose recorded transaction id is not their own: an older transaction that
#: appended to a stream after a newer one had committed there records the newer one's.
#: (The primary runs in epoch 1: the low 32 bits of the recorded id are the inserting xid.)
OLDER_AFTER_NEWER = (
    "select count(*) from eventstore.events"
    " where mod(transaction_id::text::numeric, 4294967296) <> xmin::text::numeric"
)


@dataclass
class Topology:
    """The module's clusters and the DSNs of the store on each."""

    primary: Cluster
    standby: Cluster
    subscriber: Cluster

    def dsn(self, cluster: Cluster, dbname: str = "shop") -> str:
        """The DSN of ``dbname`` on ``cluster``."""
        return cluster.dsn(dbname)


def subscribe(publisher: Cluster, subscriber: Cluster, dbname: str, name: str = "eventstore") -> None:
    """The store in ``dbname`` on both, published and subscribed as docs/moving.md says."""
    execute(publisher.dsn(dbname), PUBLICATION)
    execute(
        subscriber.dsn(dbname),
        f"create subscription {name} connection '{publisher.dsn_for_server_of(subscriber, dbname)}' "
        "publication eventstore",
    )
    # The initial copy is over when every table is ready.
    wait_for(
        lambda: (
            one(subscriber.dsn(dbname), "select count(*) from pg_subscription_rel where srsubstate <> 'r'")
            == 0
        ),
        "the subscription's initial copy",
    )


def caught_up(publisher: Cluster, dbname: str, slot: str = "eventstore") -> float:
    """Wait until the subscriber confirmed everything the publisher has written (docs/moving.md)."""
    lsn = one(publisher.dsn(dbname), "select pg_current_wal_insert_lsn()::text")
    return wait_for(
        lambda: bool(
            one(
                publisher.dsn(dbname),
                "select confirmed_flush_lsn >= %s::pg_lsn from pg_replication_slots where slot_name = %s",
                (lsn, slot),
            )
        ),
        f"the subscriber to confirm {lsn}",
    )


@pytest.fixture(scope="module")
def topology() -> Iterator[Topology]:
    with clusters() as made:
        primary = made.primary("primary", xid_epoch=1)
        subscriber = made.primary("subscriber")
        standby = made.standby(primary, "standby")
        yield Topology(primary, standby, subscriber)


def replicated_store(topology: Topology, dbname: str, name: str) -> None:
    """The store in ``dbname`` on the primary (so on the standby) and on the subscriber, subscribed."""
    create_store(topology.primary, dbname)
    create_store(topology.subscriber, dbname)
    subscribe(topology.primary, topology.subscriber, dbname, name)


@dataclass
class LogFollower:
    """Pages read_all on ``dsn`` by log number, naming the event its cursor is at, until stopped."""

    dsn: str
    rows: list[Row] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def cursor(self) -> tuple[int, uuid.UUID | None]:
        return (self.rows[-1][0], self.rows[-1][3]) if self.rows else (0, None)

    def read(self, conn: psycopg.Connection[Any], page_size: int = 500) -> list[Row]:
        after, after_event_id = self.cursor()
        page: list[Row] = conn.execute(READ_AFTER, (after, page_size, after_event_id)).fetchall()
        self.rows.extend(page)
        return page

    def follow(self) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            while not self.stop.is_set():
                if not self.read(conn):
                    time.sleep(0.005)

    def wait_for(self, count: int, timeout: float = 90) -> float:
        """Wait until it has read ``count`` events, then stop it; the seconds waited."""
        waited = wait_for(lambda: len(self.rows) >= count, f"{count} events read on {self.dsn}", timeout)
        self.stop.set()
        return waited


def differences(seen: list[Row], final: list[Row]) -> tuple[int, int]:
    """How many events of ``final`` ``seen`` skipped, and how many it got more than once."""
    ids = [r[3] for r in seen]
    return len({r[3] for r in final} - set(ids)), len(ids) - len(set(ids))


def run_torture(topology: Topology, dbname: str, target: int, cap: float) -> tuple[list[Row], LogFollower]:
    """Torture on the primary, read there, on the standby and on the subscriber; each reads the same log.

    Returns the primary's log and the subscriber's reader.
    """
    primary_dsn = topology.dsn(topology.primary, dbname)
    started = time.monotonic()
    state = Torture(primary_dsn, target=target, cap=cap)
    numbering: list[Row] = []
    on_standby = LogFollower(topology.dsn(topology.standby, dbname))
    on_subscriber = LogFollower(topology.dsn(topology.subscriber, dbname))
    writers = [threading.Thread(target=state.guarded(lambda s=seed: state.writer(s))) for seed in range(8)]
    readers = [
        # The reader on the primary numbers the log (read_all calls number_log first).
        threading.Thread(target=state.guarded(lambda: state.follow(READ_ALL, lambda c: (c, 500), numbering))),
        threading.Thread(target=state.guarded(on_standby.follow)),
        threading.Thread(target=state.guarded(on_subscriber.follow)),
    ]
    for thread in readers + writers:
        thread.start()
    for thread in writers:
        thread.join()
    written = time.monotonic() - started
    state.writers_done.set()
    readers[0].join(timeout=60)
    final = read_committed_log(primary_dsn)
    standby_lag = on_standby.wait_for(len(final))
    subscriber_lag = on_subscriber.wait_for(len(final))
    for thread in readers:
        thread.join(timeout=30)
    assert not state.errors, state.errors
    older_after_newer = one(primary_dsn, OLDER_AFTER_NEWER)
    print(
        f"\ntorture: {len(state.committed)} events committed, {len(state.aborted)} rolled back, "
        f"{state.long_transactions} long transactions, {older_after_newer} events appended by an older "
        f"transaction after a newer one, written in {written:.1f} s; the standby reader caught up "
        f"{standby_lag:.2f} s and the subscriber reader {subscriber_lag:.2f} s after the primary's"
    )
    assert len(state.committed) >= target
    assert state.aborted and state.long_transactions and older_after_newer
    assert [r[0] for r in final] == list(range(1, len(final) + 1))
    assert {r[3] for r in final} == state.committed and len(final) == len(state.committed)
    assert_stream_order(final)
    assert numbering == final
    for name, follower in (("standby", on_standby), ("subscriber", on_subscriber)):
        skipped, repeated = differences(follower.rows, final)
        print(f"{name} reader: {len(follower.rows)} events, {skipped} skipped, {repeated} repeated")
        assert (skipped, repeated) == (0, 0)
        assert follower.rows == final, f"the {name} reader's log differs from the primary's"
    return final, on_subscriber


def test_torture_read_on_a_hot_standby_and_a_logical_subscriber_then_cutover(topology: Topology) -> None:
    replicated_store(topology, "shop", "eventstore")
    final, on_subscriber = run_torture(topology, "shop", target=20_000, cap=150)
    standby_dsn = topology.dsn(topology.standby)
    subscriber_dsn = topology.dsn(topology.subscriber)
    # Neither reads by writing: number_log numbers nothing there, appends are refused.
    for dsn in (standby_dsn, subscriber_dsn):
        assert one(dsn, "select eventstore.number_log()") == 0
    assert one(standby_dsn, "select pg_is_in_recovery()")
    check_appends_refused_on_the_subscriber(subscriber_dsn)
    unnumbered = check_replicas_read_only_the_primary_numbers(topology, len(final))
    check_cutover(topology, on_subscriber, len(final), unnumbered)


def check_appends_refused_on_the_subscriber(subscriber_dsn: str) -> None:
    """25006 with its hint, nothing written, by either append function and by save_checkpoint."""
    before = one(
        subscriber_dsn,
        "select (select count(*) from eventstore.events) + (select count(*) from eventstore.log)",
    )
    for query in (
        "select eventstore.append_event('acct-1', null, 'Happened', '{}')",
        'select eventstore.append_to_stream(\'acct-1\', null, \'[{"type": "Happened", "data": {}}]\')',
    ):
        with (
            pytest.raises(psycopg.errors.ReadOnlySqlTransaction) as refused,
            psycopg.connect(subscriber_dsn, autocommit=True) as conn,
        ):
            conn.execute(query)
        assert refused.value.sqlstate == "25006"
        assert "disable or drop the subscription" in (refused.value.diag.message_hint or "")
    with pytest.raises(ReadOnlyStore) as store_refused, EventStore(subscriber_dsn) as store:
        store.append("acct-1", [NewEvent("Happened", {})])
    assert (
        store_refused.value.hint is not None
        and "disable or drop the subscription" in store_refused.value.hint
    )
    # Checkpoints come from the publisher: one saved here would clash with its rows.
    with pytest.raises(ReadOnlyStore) as store_refused, EventStore(subscriber_dsn) as store:
        store.save_checkpoint("on-the-subscriber", 1)
    assert "checkpoints are saved on the publisher" in str(store_refused.value)
    assert (
        one(
            subscriber_dsn,
            "select count(*) from eventstore.checkpoints where subscription = 'on-the-subscriber'",
        )
        == 0
    )
    after = one(
        subscriber_dsn,
        "select (select count(*) from eventstore.events) + (select count(*) from eventstore.log)",
    )
    assert after == before, "a refused append wrote something"


def check_replicas_read_only_the_primary_numbers(topology: Topology, numbered: int) -> list[uuid.UUID]:
    """Events the primary has not numbered reach the replicas but no reader there; return their ids.

    The replicas never number: they wait for the primary's numbers.
    """
    primary_dsn = topology.dsn(topology.primary)
    unnumbered: list[uuid.UUID] = []
    with psycopg.connect(primary_dsn, autocommit=True) as conn:
        for stream_id in ("acct-1", "misc-0", "acct-2"):
            unnumbered += append(conn, stream_id, 2)
    replayed(topology.primary, topology.standby)
    caught_up(topology.primary, "shop")
    for cluster in (topology.standby, topology.subscriber):
        dsn = topology.dsn(cluster)
        assert one(dsn, "select count(*) from eventstore.events") == numbered + len(unnumbered)
        assert one(dsn, "select eventstore.number_log()") == 0
        assert one(dsn, "select count(*) from eventstore.read_all(%s)", (numbered,)) == 0
        assert one(dsn, "select eventstore.log_head()") == numbered
    assert one(topology.dsn(topology.standby), "select count(*) from eventstore.log") == numbered
    return unnumbered


def check_cutover(
    topology: Topology, reader: LogFollower, numbered: int, unnumbered: list[uuid.UUID]
) -> None:
    """docs/moving.md's cutover: caught up, disable, append at once; the reader continues."""
    subscriber_dsn = topology.dsn(topology.subscriber)
    catch_up = caught_up(topology.primary, "shop")
    execute(subscriber_dsn, "alter subscription eventstore disable")
    newest_position = one(subscriber_dsn, "select max(global_position) from eventstore.events")
    with EventStore(subscriber_dsn) as store:
        began = time.monotonic()
        first = store.append("acct-1", [NewEvent("AfterCutover", {"n": 0})])
        first_append = time.monotonic() - began
        assert first.first_position > newest_position, (
            "the position sequence was moved past the copied events"
        )
        new_ids = [e.id for e in store.read_stream("acct-1")][-1:]
        for n in range(1, 20):
            event = NewEvent("AfterCutover", {"n": n}, id=uuid.uuid4())
            store.append(f"acct-{n % 5}", [event])
            new_ids.append(event.id)
    print(
        f"cutover: caught up in {catch_up:.2f} s; "
        f"first append on the former subscriber {first_append * 1000:.1f} ms"
    )
    assert first_append < 1, "the first append after the cutover must not spin"
    assert one(
        subscriber_dsn, "select xid_offset > 0 and adopted_at is not null from eventstore.log_frame"
    ), "the former subscriber adopted the publisher's transaction ids"
    # The reader continues from its cursor: first what the publisher had left unnumbered,
    # in the publisher's order, then the new events.
    with psycopg.connect(subscriber_dsn, autocommit=True) as conn:
        while reader.read(conn):
            pass
    continued = reader.rows[numbered:]
    assert [r[3] for r in continued] == unnumbered + new_ids
    assert [r[0] for r in reader.rows] == list(range(1, len(reader.rows) + 1))
    assert_stream_order(reader.rows)
    # The publisher gives the events it had not numbered the same numbers.
    with psycopg.connect(topology.dsn(topology.primary), autocommit=True) as conn:
        assert conn.execute(READ_ALL, (numbered, 500)).fetchall() == continued[: len(unnumbered)]
    execute(subscriber_dsn, "drop subscription eventstore")


def test_cutover_of_a_one_event_store_then_first_appends_from_many_sessions(topology: Topology) -> None:
    """Dropping the subscription cuts over too; eight sessions' first appends race the adoption."""
    publisher_dsn = create_store(topology.primary, "small")
    subscriber_dsn = create_store(topology.subscriber, "small")
    with EventStore(publisher_dsn) as store:
        store.append("acct-0", [NewEvent("Opened", {})])
        assert store.log_head() == 1
    subscribe(topology.primary, topology.subscriber, "small", name="eventstore_small")
    caught_up(topology.primary, "small", slot="eventstore_small")
    execute(subscriber_dsn, "drop subscription eventstore_small")

    sessions = 8
    barrier = threading.Barrier(sessions)
    errors: list[BaseException] = []

    def first_append(n: int) -> None:
        try:
            with psycopg.connect(subscriber_dsn, autocommit=True) as conn:
                barrier.wait()
                stream_id, expected = ("acct-0", 0) if n == 0 else (f"acct-{n}", -1)
                conn.execute(
                    "select eventstore.append_event(%s, %s, 'AfterCutover', '{}')", (stream_id, expected)
                )
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=first_append, args=(n,)) for n in range(sessions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    with psycopg.connect(subscriber_dsn, autocommit=True) as conn:
        rows = conn.execute(READ_ALL, (0, 100)).fetchall()
        positions = [p for (p,) in conn.execute("select global_position from eventstore.events")]
    assert [r[0] for r in rows] == list(range(1, sessions + 2))
    assert (rows[0][1], rows[0][2]) == ("acct-0", 0)
    assert sorted((r[1], r[2]) for r in rows[1:]) == sorted(
        [("acct-0", 1)] + [(f"acct-{n}", 0) for n in range(1, sessions)]
    )
    assert len(set(positions)) == len(positions) == sessions + 1


def test_failover_to_an_async_standby_that_lost_the_last_commits() -> None:
    with clusters() as made:
        primary = made.primary("primary")
        standby = made.standby(primary, "standby")
        primary_dsn = create_store(primary, "shop")
        standby_dsn = standby.dsn("shop")
        delivered: list[RecordedEvent] = []
        mailer = Subscription(primary_dsn, "mailer", delivered.append)
        with EventStore(primary_dsn) as store:
            for n in range(30):
                store.append(f"order-{n % 7}", [NewEvent("Placed", {"n": n})])
            assert mailer.catch_up() == 30
            # Committed and replicated, but not numbered before the standby stops receiving.
            unnumbered = [store.append(f"order-{n}", [NewEvent("Paid", {"n": n})]) for n in range(5)]
        replayed(primary, standby)
        assert one(standby_dsn, "select eventstore.load_checkpoint('mailer')") == 30

        # The standby stops receiving: the next commits never reach it.
        execute(standby.dsn(), "alter system set primary_conninfo = ''", "select pg_reload_conf()")
        wait_for(
            lambda: one(standby.dsn(), "select count(*) from pg_stat_wal_receiver") == 0, "no walreceiver"
        )
        with EventStore(primary_dsn) as store:
            for n in range(10):
                store.append(f"order-{n % 3}", [NewEvent("Shipped", {"n": n})])
        # The client processes them: its checkpoint (45) is saved on the primary only, and
        # it also keeps its cursor (log number and event id) in memory.
        assert mailer.catch_up() == 15
        assert one(primary_dsn, "select eventstore.load_checkpoint('mailer')") == 45
        cursor = (delivered[-1].log_number, delivered[-1].id)
        numbered_before_the_cut = (delivered[34].log_number, delivered[34].id)
        assert cursor[0] == 45 and len(unnumbered) == 5

        primary.stop("immediate")
        standby.promote()
        promoted = EventStore(standby_dsn)
        with promoted:
            # Before any new event: number 45 names nothing here.
            with pytest.raises(LogDiverged) as nothing_there:
                list(promoted.read_log(LogFilter(), cursor[0], after_event_id=cursor[1]))
            new_ids = []
            for n in range(15):
                event = NewEvent("Placed", {"after_failover": n}, id=uuid.uuid4())
                promoted.append(f"order-{n % 4}", [event])
                new_ids.append(event.id)
            # Now number 45 names a new event: the cursor diverged, ES419, never a skip.
            with pytest.raises(LogDiverged) as diverged:
                list(promoted.read_log(LogFilter(), cursor[0], after_event_id=cursor[1]))
            # A naive cursor without the event id would silently skip new events.
            naive = list(promoted.read_all(cursor[0]))
            assert len(naive) < len(new_ids)
            # The events the standby had but had not numbered get the same numbers here,
            # so a cursor naming one of them is still valid.
            after_35 = list(
                promoted.read_log(
                    LogFilter(), numbered_before_the_cut[0], after_event_id=numbered_before_the_cut[1]
                )
            )
            assert [e.id for e in after_35] == new_ids
            assert promoted.read_stream("order-0")[-1].id is not None
        for error in (nothing_there.value, diverged.value):
            assert error.sqlstate == "ES419"
            assert (
                error.hint is not None
                and "rebuild the reader's state from an earlier checkpoint" in error.hint
            )
        assert "names no event, not event" in str(nothing_there.value)
        assert "the log diverged from this cursor" in str(diverged.value)

        # The checkpoint saved on the old primary after the cut is gone with it: the one
        # stored here is the older one, still valid, and resuming from it delivers every
        # event after it, the new ones included, nothing skipped.
        assert one(standby_dsn, "select eventstore.load_checkpoint('mailer')") == 30
        resumed: list[RecordedEvent] = []
        assert Subscription(standby_dsn, "mailer", resumed.append).catch_up() == 20
        assert [e.log_number for e in resumed] == list(range(31, 51))
        assert [e.id for e in resumed] == [e.id for e in delivered[30:35]] + new_ids
        assert one(standby_dsn, "select eventstore.load_checkpoint('mailer')") == 50
        assert one(standby_dsn, "select xid_offset from eventstore.log_frame") == 0


def test_readers_on_a_subscriber_read_nothing_until_its_copy_is_over(topology: Topology) -> None:
    """The initial copy goes table by table: until it is over the log may name events not there yet.

    An uncommitted row with the id of an event to copy holds the copy of the events back
    (it waits for that row's transaction) while the log is copied already.
    """
    publisher_dsn = create_store(topology.primary, "copying")
    subscriber_dsn = create_store(topology.subscriber, "copying")
    execute(publisher_dsn, PUBLICATION)
    with EventStore(publisher_dsn) as publisher:
        publisher.append("old-1", [NewEvent("Opened", {})])
        publisher.append("new-1", [NewEvent("Opened", {})])
        published = [(e.log_number, e.id) for e in publisher.read_all()]
    assert [n for n, _ in published] == [1, 2]
    with psycopg.connect(subscriber_dsn) as holder:
        holder.execute(
            "insert into eventstore.events (global_position, stream_id, version, event_id, event_type, data,"
            " transaction_id) overriding system value values (1000000, 'holder', 0, %s, 'Holder', '{}', '1')",
            (published[0][1],),
        )
        execute(
            subscriber_dsn,
            "create subscription eventstore_copying connection "
            f"'{topology.primary.dsn_for_server_of(topology.subscriber, 'copying')}' publication eventstore",
        )
        wait_for(
            lambda: (
                one(subscriber_dsn, "select count(*) from eventstore.log") == 2
                and one(
                    subscriber_dsn,
                    "select srsubstate from pg_subscription_rel where srrelid = 'eventstore.log'::regclass",
                )
                == "r"
            ),
            "the copy of the log",
        )
        assert (
            one(
                subscriber_dsn,
                "select srsubstate from pg_subscription_rel where srrelid = 'eventstore.events'::regclass",
            )
            != "r"
        )
        assert one(subscriber_dsn, "select eventstore.log_is_copying()")
        reader = LogFollower(subscriber_dsn)
        with connect(subscriber_dsn) as conn:
            assert reader.read(conn) == []
            assert conn.execute("select count(*) from eventstore.read_category('old')").fetchone() == (0,)
            assert conn.execute("select eventstore.log_head()").fetchone() == (0,), "nothing is readable yet"
            holder.rollback()
            wait_for(lambda: one(subscriber_dsn, COPYING) == 0, "the copy to end")
            reader.read(conn)
            assert conn.execute("select eventstore.log_head()").fetchone() == (2,)
    assert [(r[0], r[3]) for r in reader.rows] == published
    execute(subscriber_dsn, "drop subscription eventstore_copying")


def test_a_cursor_the_subscriber_has_not_received_yet_is_not_a_divergence(topology: Topology) -> None:
    """A reader moving from the publisher to a lagging subscriber waits; a wrong event id is ES419."""
    publisher_dsn = create_store(topology.primary, "lagging")
    subscriber_dsn = create_store(topology.subscriber, "lagging")
    with EventStore(publisher_dsn) as publisher:
        publisher.append("acct-1", [NewEvent("Opened", {})])
        assert publisher.log_head() == 1
    subscribe(topology.primary, topology.subscriber, "lagging", name="eventstore_lagging")
    caught_up(topology.primary, "lagging", slot="eventstore_lagging")
    with psycopg.connect(subscriber_dsn) as holder, EventStore(publisher_dsn) as publisher:
        # The apply of the next numbers waits for this lock.
        holder.execute("lock table eventstore.log in exclusive mode")
        publisher.append("acct-1", [NewEvent("Deposited", {})])
        publisher.append("acct-2", [NewEvent("Opened", {})])
        on_publisher = list(publisher.read_all())
        wait_for(
            lambda: one(subscriber_dsn, "select count(*) from eventstore.events") == 3, "the events to arrive"
        )
        cursor = (on_publisher[1].log_number, on_publisher[1].id)
        with EventStore(subscriber_dsn) as subscriber:
            assert list(subscriber.read_log(LogFilter(), cursor[0], after_event_id=cursor[1])) == []
            holder.rollback()
            wait_for(lambda: one(subscriber_dsn, "select count(*) from eventstore.log") == 3, "the numbers")
            assert [e.id for e in subscriber.read_log(LogFilter(), cursor[0], after_event_id=cursor[1])] == [
                on_publisher[2].id
            ]
            with pytest.raises(LogDiverged):
                list(subscriber.read_log(LogFilter(), cursor[0], after_event_id=on_publisher[0].id))
    execute(subscriber_dsn, "drop subscription eventstore_lagging")


@pytest.mark.soak
def test_torture_soak_read_on_a_hot_standby_and_a_logical_subscriber(topology: Topology) -> None:
    replicated_store(topology, "soak", "eventstore_soak")
    run_torture(topology, "soak", target=200_000, cap=1800)
    execute(topology.dsn(topology.subscriber, "soak"), "drop subscription eventstore_soak")
