"""The global log under concurrency: no skips, no repeats, no aborted events, one order.

Readers follow ``eventstore.read_all`` / ``read_category`` on their own connections while
writers commit, roll back and hold transactions open on theirs. Every test uses real
sessions of one database; nothing is mocked.
"""

from __future__ import annotations

import itertools
import json
import random
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pgeventstore import RecordedEvent
from pgeventstore.subscription import ConsumerGroup, LogFilter, Projection, Subscription

READ_ALL = "select log_number, stream_id, version, event_id from eventstore.read_all(%s, %s)"
READ_GROUP = (
    "select log_number, stream_id, version, event_id from eventstore.read_category(%s, %s, %s, %s, %s)"
)
APPEND = "select last_position from eventstore.append_to_stream(%s, null, %s::jsonb)"

Row = tuple[int, str, int, uuid.UUID]


def append(conn: psycopg.Connection[Any], stream_id: str, count: int = 1, tag: str = "") -> list[uuid.UUID]:
    """Append ``count`` events with client-chosen ids; return the ids."""
    ids = [uuid.uuid4() for _ in range(count)]
    events = [{"type": "Happened", "data": {"tag": tag}, "id": str(i)} for i in ids]
    conn.execute(APPEND, (stream_id, json.dumps(events)))
    return ids


def read_everything(dsn: str) -> list[Row]:
    """The whole readable log, in its order, read in pages."""
    rows: list[Row] = []
    with psycopg.connect(dsn, autocommit=True) as conn:
        cursor = 0
        while page := conn.execute(READ_ALL, (cursor, 1000)).fetchall():
            rows.extend(page)
            cursor = page[-1][0]
    return rows


def read_committed_log(dsn: str, timeout: float = 60) -> list[Row]:
    """The whole log once it holds every committed event.

    read_all stops before any transaction still open, a follower's own (a projection's
    batch, a checkpoint save) included, so right after the writers return it can end
    early; read again until nothing holds it back.
    """
    with psycopg.connect(dsn, autocommit=True) as conn:
        committed = conn.execute("select count(*) from eventstore.events").fetchone()
    assert committed is not None
    deadline = time.monotonic() + timeout
    rows = read_everything(dsn)
    while len(rows) < committed[0] and time.monotonic() < deadline:
        time.sleep(0.05)
        rows = read_everything(dsn)
    return rows


def positions_in_log_order(dsn: str) -> list[int]:
    """The global positions of the numbered events, in log number order."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        return [r[0] for r in conn.execute("select global_position from eventstore.read_all(0, 100000)")]


def assert_stream_order(rows: list[Row]) -> None:
    """Each stream's versions appear as 0, 1, 2, ... in ``rows``."""
    next_version: dict[str, int] = defaultdict(int)
    for _, stream_id, version, _ in rows:
        assert version == next_version[stream_id], f"{stream_id} version {version} out of order"
        next_version[stream_id] += 1


def test_open_transaction_holds_back_later_commits(dsn: str) -> None:
    with (
        psycopg.connect(dsn) as t1,
        psycopg.connect(dsn, autocommit=True) as t2,
        psycopg.connect(dsn, autocommit=True) as reader,
    ):
        first = append(t1, "acct-1")
        second = append(t2, "acct-2")
        assert reader.execute(READ_ALL, (0, 100)).fetchall() == [], "T2 must wait for the older T1"
        t1.commit()
        rows = reader.execute(READ_ALL, (0, 100)).fetchall()
        assert [r[3] for r in rows] == first + second
        assert reader.execute(READ_ALL, (rows[-1][0], 100)).fetchall() == []


def test_reads_and_other_streams_never_wait_for_an_open_writer(dsn: str) -> None:
    with (
        psycopg.connect(dsn) as open_writer,
        psycopg.connect(dsn, autocommit=True) as other,
        psycopg.connect(dsn, autocommit=True) as reader,
    ):
        other.execute("set statement_timeout = '2s'")
        reader.execute("set statement_timeout = '2s'")
        append(open_writer, "acct-1", 3)  # holds acct-1's locks until it ends
        append(other, "acct-2")  # a statement timeout here would mean writers serialize
        append(other, "misc-1")
        assert reader.execute(READ_ALL, (0, 100)).fetchall() == []
        assert reader.execute("select * from eventstore.read_category('acct')").fetchall() == []
        reader.execute("select * from eventstore.subscription_lag()")
        open_writer.rollback()
        assert len(reader.execute(READ_ALL, (0, 100)).fetchall()) == 2


def test_reader_continuing_from_cursor_gets_late_commit_once(dsn: str) -> None:
    with (
        psycopg.connect(dsn) as t1,
        psycopg.connect(dsn, autocommit=True) as t2,
        psycopg.connect(dsn, autocommit=True) as reader,
    ):
        early = append(t2, "acct-0")
        seen = reader.execute(READ_ALL, (0, 100)).fetchall()
        assert [r[3] for r in seen] == early
        cursor = seen[-1][0]
        late = append(t1, "acct-1")  # a smaller xid than the next one, a larger position
        later = append(t2, "acct-2")
        assert reader.execute(READ_ALL, (cursor, 100)).fetchall() == []
        t1.commit()
        rows = reader.execute(READ_ALL, (cursor, 100)).fetchall()
        assert [r[3] for r in rows] == late + later


def test_older_transaction_appending_after_newer_commit_keeps_stream_order(dsn: str) -> None:
    with psycopg.connect(dsn) as old, psycopg.connect(dsn, autocommit=True) as new:
        append(old, "acct-a")  # the old transaction takes its xid first
        append(new, "acct-s", tag="v0")  # a newer transaction commits version 0 of acct-s
        append(old, "acct-s", tag="v1")  # the older one then appends version 1
        old.commit()
    rows = read_everything(dsn)
    assert [(r[1], r[2]) for r in rows if r[1] == "acct-s"] == [("acct-s", 0), ("acct-s", 1)]
    assert_stream_order(rows)


def test_rolled_back_events_are_never_read(dsn: str) -> None:
    with psycopg.connect(dsn) as conn:
        append(conn, "acct-1")
        conn.rollback()
        kept = append(conn, "acct-1")
        conn.commit()
    assert [r[3] for r in read_everything(dsn)] == kept


def test_subscription_lag_names_the_backend_holding_readers_back(dsn: str) -> None:
    with psycopg.connect(dsn) as t1, psycopg.connect(dsn, autocommit=True) as t2:
        append(t1, "acct-1")
        append(t2, "acct-2")
        t2.execute("select eventstore.save_checkpoint('s', 0)")
        row = t2.execute(
            "select events_behind, events_held_back, held_back_by_pid, held_back_since is not null "
            "from eventstore.subscription_lag() where subscription = 's'"
        ).fetchone()
        assert row == (1, 1, t1.info.backend_pid, True)
        t1.commit()
        row = t2.execute(
            "select events_behind, events_held_back, held_back_by_pid "
            "from eventstore.subscription_lag() where subscription = 's'"
        ).fetchone()
        assert row == (2, 0, None)


def notifications_of(dsn: str, transaction: Callable[[psycopg.Connection[Any]], None]) -> list[int]:
    """Run ``transaction`` on a fresh connection; return the pids of the 'eventstore' NOTIFYs it caused.

    A marker notification sent after it ends bounds the wait: notifications are delivered
    in commit order, so everything the transaction sent arrives before the marker.
    """
    with psycopg.connect(dsn, autocommit=True) as listener, psycopg.connect(dsn) as writer:
        listener.execute("listen eventstore")
        transaction(writer)
        with psycopg.connect(dsn, autocommit=True) as marker:
            marker.execute("select pg_notify('eventstore', 'marker')")
        pids: list[int] = []
        for notify in listener.notifies(timeout=10):
            if notify.payload == "marker":
                return pids
            assert notify.channel == "eventstore"
            pids.append(notify.pid)
    raise AssertionError("the marker notification never arrived")


def test_notify_sends_one_notification_per_appending_transaction(dsn: str) -> None:
    pid = 0

    def several_appends(conn: psycopg.Connection[Any]) -> None:
        nonlocal pid
        pid = conn.info.backend_pid
        conn.execute("set eventstore.notify = 'on'")
        for stream_id in ("acct-1", "acct-2", "misc-1", "acct-1"):
            append(conn, stream_id, 3)
        conn.execute("select eventstore.append_event('acct-3', null, 'Happened', '{}')")
        conn.commit()

    assert notifications_of(dsn, several_appends) == [pid], "five appends, one transaction: one NOTIFY"

    def two_transactions(conn: psycopg.Connection[Any]) -> None:
        nonlocal pid
        pid = conn.info.backend_pid
        conn.execute("set eventstore.notify = 'on'")
        append(conn, "acct-1", 2)
        conn.commit()
        append(conn, "acct-1", 2)
        append(conn, "acct-2", 2)
        conn.commit()

    assert notifications_of(dsn, two_transactions) == [pid, pid]


def test_notify_sends_nothing_for_a_rolled_back_append(dsn: str) -> None:
    def rolled_back(conn: psycopg.Connection[Any]) -> None:
        conn.execute("set eventstore.notify = 'on'")
        conn.commit()
        append(conn, "acct-1", 2)
        append(conn, "acct-2")
        conn.rollback()
        # Only a subtransaction appended, and it rolled back: the commit sends nothing.
        with conn.transaction():
            conn.execute("select 1")
            with pytest.raises(psycopg.errors.RaiseException), conn.transaction():
                append(conn, "acct-3")
                conn.execute("do $$ begin raise exception 'undo the savepoint'; end $$")

    assert notifications_of(dsn, rolled_back) == []
    assert read_everything(dsn) == []


def test_notify_is_off_by_default(dsn: str) -> None:
    def default_session(conn: psycopg.Connection[Any]) -> None:
        assert conn.execute("select current_setting('eventstore.notify', true)").fetchone() in [
            (None,),
            ("",),
        ]
        append(conn, "acct-1", 2)
        append(conn, "acct-2")
        conn.commit()
        conn.execute("set eventstore.notify = 'off'")
        append(conn, "acct-1")
        conn.commit()

    assert notifications_of(dsn, default_session) == []
    assert len(read_everything(dsn)) == 4


def test_subscription_lag_names_a_blocker_in_another_database(admin_dsn: str, dsn: str) -> None:
    lag = (
        "select events_behind, events_held_back, held_back_by_pid "
        "from eventstore.subscription_lag() where subscription = 's'"
    )
    with psycopg.connect(admin_dsn) as elsewhere, psycopg.connect(dsn, autocommit=True) as conn:
        elsewhere.execute("select pg_current_xact_id()")  # any open transaction id in the cluster
        append(conn, "acct-1")
        conn.execute("select eventstore.save_checkpoint('s', 0)")
        assert conn.execute(READ_ALL, (0, 10)).fetchall() == []
        assert conn.execute(lag).fetchone() == (1, 1, elsewhere.info.backend_pid)
        elsewhere.rollback()
        assert conn.execute(lag).fetchone() == (1, 0, None)
        assert len(conn.execute(READ_ALL, (0, 10)).fetchall()) == 1


def test_live_projection_under_concurrent_writers_equals_its_rebuild(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "create table applied (n bigserial primary key, log_number bigint, stream_id text, "
            "version bigint, event_id uuid unique)"
        )

    def apply(conn: psycopg.Connection[Any], event: RecordedEvent) -> None:
        conn.execute(
            "insert into applied (log_number, stream_id, version, event_id) values (%s, %s, %s, %s)",
            (event.log_number, event.stream_id, event.version, event.id),
        )

    def reset(conn: psycopg.Connection[Any]) -> None:
        conn.execute("truncate applied restart identity")

    def rows() -> list[Row]:
        with psycopg.connect(dsn, autocommit=True) as conn:
            return conn.execute(
                "select log_number, stream_id, version, event_id from applied order by n"
            ).fetchall()

    state = Torture(dsn, target=3000, cap=120, writers=4)
    projection = Projection(dsn, "applied", apply, reset=reset, batch_size=100, poll_interval=0.02)
    live = threading.Thread(target=state.guarded(projection.run))
    live.start()
    writers = [threading.Thread(target=state.guarded(lambda s=seed: state.writer(s))) for seed in range(4)]
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join()
    final = read_committed_log(dsn)
    deadline = time.monotonic() + 60
    while len(rows()) < len(final) and time.monotonic() < deadline and not state.errors:
        time.sleep(0.05)
    projection.stop()
    live.join(timeout=30)
    assert not state.errors, state.errors
    positions = positions_in_log_order(dsn)
    assert any(a > b for a, b in itertools.pairwise(positions)), "no commit ever came out of position order"
    assert state.aborted
    live_rows = rows()
    assert live_rows == final, "the live projection applied each committed event once, in log order"
    rebuilder = Projection(dsn, "applied", apply, reset=reset, batch_size=100)
    assert rebuilder.rebuild() == len(final)
    assert rows() == live_rows, "the projection rebuilt from zero differs from the live one"


def test_consumer_group_subscriptions_share_a_category_under_concurrent_writers(dsn: str) -> None:
    state = Torture(dsn, target=3000, cap=120, writers=4)
    shares: list[list[Row]] = [[], [], []]
    members = [
        Subscription(
            dsn,
            f"group-{member}",
            lambda e, out=out: out.append((e.log_number or 0, e.stream_id, e.version, e.id)),
            log_filter=LogFilter(category="acct", group=ConsumerGroup(member, 3)),
            batch_size=200,
            poll_interval=0.02,
        )
        for member, out in enumerate(shares)
    ]
    followers = [threading.Thread(target=state.guarded(m.run)) for m in members]
    writers = [threading.Thread(target=state.guarded(lambda s=seed: state.writer(s))) for seed in range(4)]
    for thread in followers + writers:
        thread.start()
    for thread in writers:
        thread.join()
    category = [r for r in read_committed_log(dsn) if r[1].startswith("acct-")]
    deadline = time.monotonic() + 60
    while sum(map(len, shares)) < len(category) and time.monotonic() < deadline and not state.errors:
        time.sleep(0.05)
    for member in members:
        member.stop()
    for thread in followers:
        thread.join(timeout=30)
    assert not state.errors, state.errors
    assert state.aborted
    assert sorted(r for out in shares for r in out) == sorted(category), (
        "each category event to one member, once"
    )
    for member, out in enumerate(shares):
        mine = set(out)
        assert out == [r for r in category if r in mine], "a member's share is out of log order"
        assert {r[1] for r in out}.isdisjoint(r[1] for other in shares if other is not out for r in other)
        assert out, f"member {member} got nothing"


@dataclass
class Torture:
    """Shared state of one torture run: the writers stop once ``target`` events committed."""

    dsn: str
    target: int
    cap: float
    writers: int = 8
    streams: int = 60
    committed: set[uuid.UUID] = field(default_factory=set)
    aborted: set[uuid.UUID] = field(default_factory=set)
    long_transactions: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    writers_done: threading.Event = field(default_factory=threading.Event)
    errors: list[BaseException] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.deadline = time.monotonic() + self.cap

    def guarded(self, target: Callable[[], None]) -> Callable[[], None]:
        """``target``, recording any exception so the test fails instead of hanging."""

        def run() -> None:
            try:
                target()
            except BaseException as error:
                self.errors.append(error)
                self.writers_done.set()
                raise

        return run

    def writing(self) -> bool:
        """Whether the writers go on: below the target, within the time cap, no failure."""
        return len(self.committed) < self.target and time.monotonic() < self.deadline and not self.errors

    def writer(self, seed: int) -> None:
        """Random transactions of 1-3 appends of 1-12 events each, some long, some rolled back."""
        rng = random.Random(seed)
        with psycopg.connect(self.dsn) as conn:
            if seed % 2 == 0:
                conn.execute("set eventstore.notify = 'on'")
                conn.commit()
            while self.writing():
                ids: list[uuid.UUID] = []
                # Sorted stream ids: transactions lock stream rows in one order (no deadlocks).
                streams = sorted({self.stream_id(rng) for _ in range(rng.randint(1, 3))})
                for stream_id in streams:
                    ids += append(conn, stream_id, rng.randint(1, 12))
                    if rng.random() < 0.3:
                        time.sleep(rng.random() * 0.002)
                if rng.random() < 0.03:
                    # Long open: the other writers commit many transactions with newer ids
                    # meanwhile, and readers must wait for this one.
                    time.sleep(0.05 + rng.random() * 0.2)
                    with self.lock:
                        self.long_transactions += 1
                if rng.random() < 0.15:
                    conn.rollback()
                    with self.lock:
                        self.aborted.update(ids)
                else:
                    conn.commit()
                    with self.lock:
                        self.committed.update(ids)

    def stream_id(self, rng: random.Random) -> str:
        """A random stream, two thirds of them in the category ``acct``."""
        n = rng.randrange(self.streams)
        return f"acct-{n}" if n % 3 else f"misc-{n}"

    def follow(self, query: str, params: Callable[[int], tuple[Any, ...]], out: list[Row]) -> None:
        """Read pages from the cursor until the writers are done and a page is empty."""
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            cursor = 0
            while True:
                finished = self.writers_done.is_set()
                page = conn.execute(query, params(cursor)).fetchall()
                out.extend(page)
                if page:
                    cursor = page[-1][0]
                elif finished:
                    return
                else:
                    time.sleep(0.005)


def run_torture(dsn: str, target: int, cap: float) -> None:
    """8 writers, 2 log followers, 3 consumer-group members and a live Subscription.

    Fails unless ``target`` events committed within ``cap`` seconds.
    """
    started = time.monotonic()
    state = Torture(dsn, target, cap)
    followers: list[list[Row]] = [[], []]
    members: list[list[Row]] = [[], [], []]
    threads = [
        threading.Thread(target=state.guarded(lambda s=seed: state.writer(s)))
        for seed in range(state.writers)
    ]
    for out in followers:
        threads.append(
            threading.Thread(
                target=state.guarded(lambda o=out: state.follow(READ_ALL, lambda c: (c, 500), o))
            )
        )
    for member, out in enumerate(members):
        threads.append(
            threading.Thread(
                target=state.guarded(
                    lambda m=member, o=out: state.follow(READ_GROUP, lambda c: ("acct", c, 500, m, 3), o)
                )
            )
        )
    # The Python Subscription too, following live: woken by the NOTIFY of the writers that
    # send it (even seeds) and by polling.
    delivered: list[Row] = []
    subscription = Subscription(
        dsn,
        "torture",
        lambda e: delivered.append((e.log_number or 0, e.stream_id, e.version, e.id)),
        batch_size=500,
        poll_interval=0.02,
    )
    live = threading.Thread(target=state.guarded(subscription.run))
    live.start()
    for thread in threads:
        thread.start()
    for thread in threads[: state.writers]:
        thread.join()
    written = time.monotonic() - started
    state.writers_done.set()
    for thread in threads[state.writers :]:
        thread.join(timeout=120)
    final = read_committed_log(dsn)
    deadline = time.monotonic() + 60
    while len(delivered) < len(final) and time.monotonic() < deadline and not state.errors:
        time.sleep(0.05)
    subscription.stop()
    live.join(timeout=30)
    assert not state.errors, state.errors
    print(
        f"torture: {len(state.committed)} events committed, {len(state.aborted)} rolled back, "
        f"{state.long_transactions} long transactions, written in {written:.1f} s, "
        f"verified after {time.monotonic() - started:.1f} s"
    )
    assert len(state.committed) >= target, (
        f"only {len(state.committed)} of {target} events committed in {cap} s"
    )
    assert state.aborted, "the run rolled nothing back"
    assert state.long_transactions, "the run held no transaction open long"
    # An older transaction's event after a newer one's smaller position: both transactions
    # were appending at once, so no lock serialized the writers.
    positions = positions_in_log_order(dsn)
    assert any(a > b for a, b in itertools.pairwise(positions)), "no commit ever came out of position order"
    assert [r[0] for r in final] == list(range(1, len(final) + 1)), "log numbers are dense"
    with psycopg.connect(dsn) as conn:
        # New sessions' first appends raced commits: none may take this cluster for another.
        assert conn.execute("select xid_offset from eventstore.log_frame").fetchone() == (0,)
    assert delivered == final, "the Subscription's deliveries differ from the log"
    final_ids = [r[3] for r in final]
    assert set(final_ids) == state.committed
    assert len(final_ids) == len(state.committed)
    assert_stream_order(final)
    for seen in followers:
        # Identical to the final order: every committed event once, none aborted, and
        # nothing ever delivered before an event that precedes it.
        assert seen == final
    category = [r for r in final if r[1].startswith("acct-")]
    shares = [{r[3] for r in out} for out in members]
    assert not set().union(*shares) & state.aborted, "a member got an event of a rolled-back transaction"
    assert sum(len(out) for out in members) == len(category)
    assert set().union(*shares) == {r[3] for r in category}
    owners: dict[str, set[int]] = defaultdict(set)
    for member, out in enumerate(members):
        assert_stream_order(out)
        assert out == [r for r in category if r[3] in shares[member]], "a member's share is out of log order"
        for r in out:
            owners[r[1]].add(member)
    assert all(len(o) == 1 for o in owners.values()), "a stream was split between members"
    assert len({m for o in owners.values() for m in o}) == 3


def test_torture_concurrent_writers_and_readers(dsn: str) -> None:
    run_torture(dsn, target=20_000, cap=300)


@pytest.mark.soak
def test_torture_soak(dsn: str) -> None:
    run_torture(dsn, target=200_000, cap=1800)


def test_checkpoint_compare_and_set_race(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        for n in range(40):
            append(conn, f"acct-{n % 7}")
    chain = [0] + [r[0] for r in read_everything(dsn)]
    wins: list[tuple[int, int]] = []
    lock = threading.Lock()

    def worker() -> None:
        with psycopg.connect(dsn, autocommit=True) as conn:
            while True:
                (current,) = conn.execute("select eventstore.load_checkpoint('race')").fetchone() or (0,)
                step = chain.index(current)
                if step == len(chain) - 1:
                    return
                (won,) = conn.execute(
                    "select eventstore.save_checkpoint('race', %s, %s)", (chain[step + 1], current)
                ).fetchone() or (False,)
                if won:
                    with lock:
                        wins.append((current, chain[step + 1]))

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(wins, key=lambda w: chain.index(w[0])) == list(itertools.pairwise(chain))


def write_out_of_order_log(dsn: str, rounds: int) -> None:
    """Each round: an older transaction commits an event with a later position than a newer one's."""
    with psycopg.connect(dsn) as old, psycopg.connect(dsn, autocommit=True) as new:
        for n in range(rounds):
            old.execute("select pg_current_xact_id()")  # the older transaction id
            append(new, f"acct-{n % 5}", 2)
            append(old, f"misc-{n % 3}")
            old.commit()


def test_forward_only_checkpoint_never_moves_back(dsn: str) -> None:
    write_out_of_order_log(dsn, 10)
    positions = positions_in_log_order(dsn)
    assert positions != sorted(positions), "the log order must differ from the position order here"
    order = [r[0] for r in read_everything(dsn)]
    rank = {number: i for i, number in enumerate(order)}
    observed: list[int] = []
    stop = threading.Event()

    def saver(seed: int) -> None:
        rng = random.Random(seed)
        with psycopg.connect(dsn, autocommit=True) as conn:
            for _ in range(60):
                position = rng.choice(order)
                (current,) = conn.execute("select eventstore.load_checkpoint('fwd')").fetchone() or (0,)
                (saved,) = conn.execute(
                    "select eventstore.save_checkpoint('fwd', %s)", (position,)
                ).fetchone() or (False,)
                if current and rank[position] < rank[current]:
                    assert not saved, "a save behind the stored checkpoint must lose"

    def watcher() -> None:
        with psycopg.connect(dsn, autocommit=True) as conn:
            while not stop.is_set():
                (current,) = conn.execute("select eventstore.load_checkpoint('fwd')").fetchone() or (0,)
                if current:
                    observed.append(current)

    watch = threading.Thread(target=watcher)
    watch.start()
    savers = [threading.Thread(target=saver, args=(seed,)) for seed in range(5)]
    for thread in savers:
        thread.start()
    for thread in savers:
        thread.join()
    stop.set()
    watch.join()
    ranks = [rank[p] for p in observed]
    assert ranks == sorted(ranks), "the checkpoint moved backwards in log order"


@dataclass
class Session:
    """One writer connection of the interleaving property and what its open transaction holds."""

    conn: psycopg.Connection[Any]
    streams: set[str] = field(default_factory=set)
    ids: list[uuid.UUID] = field(default_factory=list)


# Few streams, so that transactions meet on them often (an older transaction appending
# after a newer one committed to the same stream is the case that matters most).
step = st.tuples(
    st.integers(0, 2),
    st.sampled_from(["append", "append", "append", "commit", "commit", "rollback", "read"]),
    st.integers(0, 2),
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(step, min_size=1, max_size=40))
# The older transaction (0) appends to stream 1 after the newer one (1) committed there.
@example(steps=[(0, "append", 0), (1, "append", 1), (1, "commit", 0), (0, "append", 1)])
def test_any_interleaving_reads_every_committed_event_once_in_one_order(
    dsn: str, steps: list[tuple[int, str, int]]
) -> None:
    """Three writers and a reader, driven step by step in any order hypothesis picks."""
    prefix = uuid.uuid4().hex[:8]
    start = read_everything(dsn)
    cursor = start[-1][0] if start else 0
    seen: list[Row] = []
    committed: set[uuid.UUID] = set()
    with psycopg.connect(dsn, autocommit=True) as reader:
        sessions = [Session(psycopg.connect(dsn)) for _ in range(3)]
        try:

            def read() -> None:
                nonlocal cursor
                while page := reader.execute(READ_ALL, (cursor, 1000)).fetchall():
                    seen.extend(page)
                    cursor = page[-1][0]

            def end(session: Session, commit: bool) -> None:
                if commit:
                    session.conn.commit()
                    committed.update(session.ids)
                else:
                    session.conn.rollback()
                session.streams.clear()
                session.ids.clear()

            for index, action, stream in steps:
                session = sessions[index]
                stream_id = f"prop{prefix}-{stream}"
                if action == "append":
                    # A stream another open transaction wrote would block this single thread.
                    if any(stream_id in s.streams for s in sessions if s is not session):
                        continue
                    session.ids += append(session.conn, stream_id, 1 + stream % 2)
                    session.streams.add(stream_id)
                elif action in ("commit", "rollback"):
                    end(session, action == "commit")
                else:
                    read()
            for session in sessions:
                end(session, True)
            read()
        finally:
            for session in sessions:
                session.conn.close()
    final = read_everything(dsn)[len(start) :]
    assert seen == final
    assert {r[3] for r in seen} == committed
    assert len(seen) == len(committed)
    assert_stream_order(seen)
