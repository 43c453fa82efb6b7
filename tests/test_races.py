"""Races that need several connections: one winner per expectation, no waiting between
streams, idempotent retries that see each other, and no deadlock between appends with and
without event ids.

Where a test needs two calls to overlap for certain, one connection holds an open
transaction and the test waits until the others are blocked behind it (pg_stat_activity)
before releasing it; the free-running tests add many overlapping rounds on top.
"""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

APPEND = (
    "select stream_version, first_position, last_position from eventstore.append_to_stream(%s, %s, %s::jsonb)"
)

APPEND_EVENT = (
    "select stream_version, first_position, last_position from eventstore.append_event(%s, %s, %s, %s::jsonb)"
)

Result = tuple[int, int, int]
#: A batch as JSON text (append_to_stream), or one event's type and data (append_event).
Events = str | tuple[str, str]


def batch(*types: str, ids: list[uuid.UUID] | None = None) -> str:
    events: list[dict[str, Any]] = [{"type": t, "data": {"n": i}} for i, t in enumerate(types)]
    if ids is not None:
        for event, event_id in zip(events, ids, strict=True):
            event["id"] = str(event_id)
    return json.dumps(events)


def append(conn: psycopg.Connection[Any], stream_id: str, expected: int | None, events: Events) -> Result:
    if isinstance(events, tuple):
        row = conn.execute(APPEND_EVENT, (stream_id, expected, *events)).fetchone()
    else:
        row = conn.execute(APPEND, (stream_id, expected, events)).fetchone()
    assert row is not None
    return (row[0], row[1], row[2])


def outcome(
    dsn: str, stream_id: str, expected: int | None, events: Events, start: threading.Barrier
) -> Result | str:
    """Append once on a fresh connection after every thread is ready; the result or the SQLSTATE."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        start.wait(timeout=30)
        try:
            return append(conn, stream_id, expected, events)
        except psycopg.Error as error:
            return error.sqlstate or repr(error)


@pytest.fixture
def connect(dsn: str) -> Iterator[Callable[..., psycopg.Connection[Any]]]:
    """Open connections to the test database; all are closed at the end of the test."""
    opened: list[psycopg.Connection[Any]] = []

    def open_connection(autocommit: bool = True) -> psycopg.Connection[Any]:
        conn = psycopg.connect(dsn, autocommit=autocommit)
        opened.append(conn)
        return conn

    yield open_connection
    for conn in opened:
        conn.close()


def wait_until_blocked(observer: psycopg.Connection[Any], pids: list[int], timeout: float = 30) -> None:
    """Return once every backend in ``pids`` waits for a lock; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = observer.execute(
            "select count(*) from pg_stat_activity where pid = any(%s) and wait_event_type = 'Lock'",
            (pids,),
        ).fetchone()
        if row is not None and row[0] == len(pids):
            return
        time.sleep(0.02)
    raise AssertionError(f"backends {pids} never blocked on a lock")


def run_blocked(
    connect: Callable[..., psycopg.Connection[Any]],
    calls: list[tuple[str, int | None, Events]],
    observer: psycopg.Connection[Any],
) -> tuple[ThreadPoolExecutor, list[Future[Result | str]]]:
    """Start each call on its own connection and wait until all of them block."""
    conns = [connect() for _ in calls]
    pool = ThreadPoolExecutor(max_workers=len(calls))

    def call(conn: psycopg.Connection[Any], args: tuple[str, int | None, Events]) -> Result | str:
        try:
            return append(conn, *args)
        except psycopg.Error as error:
            return error.sqlstate or repr(error)

    futures = [pool.submit(call, conn, args) for conn, args in zip(conns, calls, strict=True)]
    wait_until_blocked(observer, [c.info.backend_pid for c in conns])
    return pool, futures


def versions(conn: psycopg.Connection[Any], stream_id: str) -> list[int]:
    rows = conn.execute(
        "select version from eventstore.events where stream_id = %s order by version", (stream_id,)
    ).fetchall()
    return [r[0] for r in rows]


@pytest.mark.parametrize("expected", [-1, 0], ids=["no-stream", "exact"])
@pytest.mark.parametrize("one_event", [False, True], ids=["batches", "append_event"])
def test_writers_blocked_behind_a_committed_append_lose_with_es409(connect, expected, one_event) -> None:
    observer = connect()
    if expected == 0:
        append(observer, "race-1", -1, batch("Created"))
    holder = connect(autocommit=False)
    winner = append(holder, "race-1", expected, ("Won", "{}") if one_event else batch("Won"))
    lost: Events = ("Lost", "{}") if one_event else batch("Lost")
    pool, futures = run_blocked(connect, [("race-1", expected, lost)] * 4, observer)
    holder.commit()
    with pool:
        results = [f.result(timeout=30) for f in futures]
    assert results == ["ES409"] * 4
    assert versions(observer, "race-1") == list(range(winner[0] + 1))


def test_when_the_holder_rolls_back_exactly_one_blocked_writer_wins(connect) -> None:
    observer = connect()
    holder = connect(autocommit=False)
    append(holder, "race-2", -1, batch("Rolled back"))
    pool, futures = run_blocked(connect, [("race-2", -1, batch("A", "B"))] * 5, observer)
    holder.rollback()
    with pool:
        results = [f.result(timeout=30) for f in futures]
    winners = [r for r in results if not isinstance(r, str)]
    assert len(winners) == 1
    assert winners[0][0] == 1
    assert sorted(r for r in results if isinstance(r, str)) == ["ES409"] * 4
    assert versions(observer, "race-2") == [0, 1]


MIXED_WRITERS: list[Events] = [
    ("E", "{}"),
    batch("E"),
    ("E", "null"),
    batch("E", "F"),
    ("E", "1"),
    batch("E"),
]


@pytest.mark.parametrize("expected", [-1, "exact"])
@pytest.mark.parametrize("kinds", [[batch("E", "F")] * 6, MIXED_WRITERS], ids=["batches", "mixed"])
def test_free_running_writers_with_one_expectation_have_exactly_one_winner(
    dsn, connect, expected, kinds: list[Events]
) -> None:
    """Batches, and batches mixed with append_event's common call (its own statements),
    racing with one expectation: one winner per round, the rest ES409."""
    observer = connect()
    writers = len(kinds)
    rounds = 15
    stream = f"free-{uuid.uuid4().hex[:8]}"
    current = -1
    with ThreadPoolExecutor(max_workers=writers) as pool:
        for round_number in range(rounds):
            stream_id = f"{stream}-{round_number}" if expected == -1 else stream
            version = -1 if expected == -1 else current
            start = threading.Barrier(writers)
            calls = [
                (dsn, stream_id, version, kinds[(n + round_number) % writers], start) for n in range(writers)
            ]
            results = [f.result(timeout=60) for f in [pool.submit(outcome, *c) for c in calls]]
            winners = [r for r in results if not isinstance(r, str)]
            assert len(winners) == 1, results
            assert sorted(r for r in results if isinstance(r, str)) == ["ES409"] * (writers - 1), results
            current = winners[0][0]
            assert versions(observer, stream_id) == list(range(current + 1))


def test_writer_on_another_stream_of_the_same_category_does_not_wait(connect) -> None:
    holder = connect(autocommit=False)
    append(holder, "order-A", None, batch("Placed"))
    append(holder, "order-A", None, batch("Paid", ids=[uuid.uuid4()]))
    other = connect()
    # Any lock wait would surface as lock_not_available after 200 ms instead of hanging.
    other.execute("set lock_timeout = '200ms'")
    assert append(other, "order-B", -1, batch("Placed"))[0] == 0
    assert append(other, "order-B", 0, batch("Paid", ids=[uuid.uuid4()]))[0] == 1
    assert append(other, "order-B", None, batch("Shipped"))[0] == 2
    assert append(other, "order-C", None, batch("Placed"))[0] == 0
    row = other.execute(
        "select stream_version from eventstore.append_event('order-D', -1, 'Placed', '{}')"
    ).fetchone()
    assert row == (0,)
    # The same stream does wait: for the holder's uncommitted events.
    with pytest.raises(psycopg.errors.LockNotAvailable):
        append(other, "order-A", None, batch("Blocked"))
    holder.commit()
    assert append(other, "order-A", 1, batch("Shipped"))[0] == 2


def test_writers_on_distinct_streams_of_one_category_all_proceed(dsn, connect) -> None:
    writers = 6
    appends = 30
    start = threading.Barrier(writers)

    def writer(n: int) -> list[int]:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("set lock_timeout = '5s'")
            start.wait(timeout=30)
            return [append(conn, f"invoice-{n}", i - 1, batch("Line"))[0] for i in range(appends)]

    with ThreadPoolExecutor(max_workers=writers) as pool:
        results = list(pool.map(writer, range(writers)))
    assert results == [list(range(appends))] * writers
    observer = connect()
    for n in range(writers):
        assert versions(observer, f"invoice-{n}") == list(range(appends))


def test_concurrent_retries_of_one_batch_all_return_the_original_result(connect) -> None:
    observer = connect()
    ids = [uuid.uuid4(), uuid.uuid4()]
    events = batch("A", "B", ids=ids)
    holder = connect(autocommit=False)
    original = append(holder, "retry-1", -1, events)
    pool, futures = run_blocked(
        connect, [("retry-1", -1, events)] * 3 + [("retry-1", None, events)] * 2, observer
    )
    holder.commit()
    with pool:
        results = [f.result(timeout=30) for f in futures]
    assert results == [original] * 5
    assert versions(observer, "retry-1") == [0, 1]


def test_retries_racing_after_a_rollback_write_once(connect) -> None:
    observer = connect()
    events = batch("A", "B", "C", ids=[uuid.uuid4() for _ in range(3)])
    holder = connect(autocommit=False)
    append(holder, "retry-2", -1, events)
    pool, futures = run_blocked(connect, [("retry-2", -1, events)] * 4, observer)
    holder.rollback()
    with pool:
        results = [f.result(timeout=30) for f in futures]
    assert len(set(results)) == 1, results
    assert not isinstance(results[0], str)
    assert results[0][0] == 2
    assert versions(observer, "retry-2") == [0, 1, 2]


def test_free_running_retries_with_the_same_ids_write_once(dsn, connect) -> None:
    writers = 6
    observer = connect()
    with ThreadPoolExecutor(max_workers=writers) as pool:
        for round_number in range(10):
            stream = f"retry-free-{round_number}"
            events = batch("A", "B", ids=[uuid.uuid4(), uuid.uuid4()])
            start = threading.Barrier(writers)
            expectations = [-1, None] * (writers // 2)
            futures = [pool.submit(outcome, dsn, stream, e, events, start) for e in expectations]
            results = [f.result(timeout=60) for f in futures]
            assert len(set(results)) == 1, results
            assert not isinstance(results[0], str)
            assert versions(observer, stream) == [0, 1]


def test_a_retry_and_a_plain_append_in_two_transactions_do_not_deadlock(connect) -> None:
    """Transaction A appends without ids, B then appends with ids, A then appends with ids.

    B waits for A's uncommitted first event; A's next append must not wait for B in turn
    (a lock that B held while waiting would make this a deadlock).
    """
    observer = connect()
    a = connect(autocommit=False)
    append(a, "mixed-1", None, batch("Plain"))
    pool, futures = run_blocked(connect, [("mixed-1", None, batch("B", ids=[uuid.uuid4()]))], observer)
    a.execute("set lock_timeout = '5s'")
    assert append(a, "mixed-1", None, batch("A", ids=[uuid.uuid4()]))[0] == 1
    a.commit()
    with pool:
        result = futures[0].result(timeout=30)
    assert not isinstance(result, str), f"the blocked writer failed with SQLSTATE {result}"
    assert result[0] == 2
    assert versions(observer, "mixed-1") == [0, 1, 2]


def test_batches_with_crossed_event_ids_never_deadlock(dsn, connect) -> None:
    """Two sessions append [X, Y] to one stream and [Y, X] to another at once, round after
    round: one wins, the other gets ES412 naming the stream that holds the ids, never
    PostgreSQL's 40P01.

    Each session holds its first event while it inserts the second, so the two wait for
    each other: PostgreSQL finds such a cycle after deadlock_timeout, set low here so that
    the rounds run fast, and pg_stat_database shows that cycles did form."""
    rounds = 300
    observer = connect()
    dbname = conninfo_to_dict(dsn)["dbname"]
    observer.execute(
        sql.SQL("alter database {} set deadlock_timeout = '20ms'").format(sql.Identifier(dbname))
    )
    start = threading.Barrier(2)
    ids = [(uuid.uuid4(), uuid.uuid4()) for _ in range(rounds)]

    def writer(side: int) -> list[str]:
        outcomes: list[str] = []
        with psycopg.connect(dsn, autocommit=True) as conn:
            for r, (x, y) in enumerate(ids):
                stream, order = (f"cross-a-{r}", [x, y]) if side == 0 else (f"cross-b-{r}", [y, x])
                start.wait(timeout=60)
                try:
                    append(conn, stream, None, batch("First", "Second", ids=order))
                    outcomes.append("stored")
                except psycopg.Error as error:
                    if error.sqlstate == "ES412":
                        holder = json.loads(error.diag.message_detail or "{}")["stream_id"]
                        outcomes.append(f"ES412 {holder}")
                    else:
                        outcomes.append(str(error.sqlstate))
        return outcomes

    with ThreadPoolExecutor(max_workers=2) as pool:
        a, b = pool.map(writer, range(2))
    for r, pair in enumerate(zip(a, b, strict=True)):
        winner, loser = (
            (f"cross-a-{r}", f"cross-b-{r}") if pair[0] == "stored" else (f"cross-b-{r}", f"cross-a-{r}")
        )
        assert sorted(pair) == sorted(["stored", f"ES412 {winner}"]), (r, pair)
        assert versions(observer, winner) == [0, 1]
        assert versions(observer, loser) == []
    row = observer.execute("select deadlocks from pg_stat_database where datname = %s", (dbname,)).fetchone()
    assert row is not None and row[0] > 0, "no round formed a cycle"


def test_mixed_free_running_writers_never_fail_unexpectedly(dsn, connect) -> None:
    """Writers whose transactions mix a plain append, an id-carrying append and its retry
    on one stream never fail, and every stream stays gapless."""
    writers = 5
    transactions = 25
    streams = ["mix-a", "mix-b"]
    start = threading.Barrier(writers)
    unexpected: list[str] = []

    def writer(n: int) -> int:
        written = 0
        with psycopg.connect(dsn, autocommit=False) as conn:
            start.wait(timeout=30)
            for t in range(transactions):
                stream = streams[(n + t) % 2]
                ids = [uuid.uuid4()]
                try:
                    append(conn, stream, None, batch("Plain"))
                    first = append(conn, stream, None, batch("WithId", ids=ids))
                    assert append(conn, stream, None, batch("WithId", ids=ids)) == first
                    conn.commit()
                    written += 2
                except psycopg.Error as error:
                    conn.rollback()
                    unexpected.append(f"{error.sqlstate}: {error}")
        return written

    with ThreadPoolExecutor(max_workers=writers) as pool:
        written = sum(pool.map(writer, range(writers)))
    observer = connect()
    assert unexpected == []
    assert written == writers * transactions * 2
    lengths = [len(versions(observer, s)) for s in streams]
    assert sum(lengths) == written
    for stream, length in zip(streams, lengths, strict=True):
        assert versions(observer, stream) == list(range(length))


def test_concurrent_appends_with_any_version_all_succeed_gaplessly(dsn, connect) -> None:
    writers = 6
    appends = 20
    start = threading.Barrier(writers)

    def writer(_: int) -> list[int]:
        with psycopg.connect(dsn, autocommit=True) as conn:
            start.wait(timeout=30)
            return [append(conn, "any-1", None, batch("A", "B"))[0] for _ in range(appends)]

    with ThreadPoolExecutor(max_workers=writers) as pool:
        returned = sorted(v for vs in pool.map(writer, range(writers)) for v in vs)
    assert returned == list(range(1, 2 * writers * appends, 2))
    assert versions(connect(), "any-1") == list(range(2 * writers * appends))


def test_concurrent_snapshots_keep_the_newest(dsn, connect) -> None:
    observer = connect()
    append(observer, "snap-1", -1, batch(*["E"] * 40))
    start = threading.Barrier(8)

    def saver(n: int) -> list[bool]:
        with psycopg.connect(dsn, autocommit=True) as conn:
            start.wait(timeout=30)
            saved = []
            for version in range(n, 40, 8):
                row = conn.execute(
                    "select eventstore.save_snapshot('snap-1', %s, %s::jsonb)",
                    (version, json.dumps({"v": version})),
                ).fetchone()
                assert row is not None
                saved.append(bool(row[0]))
            return saved

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(saver, range(8)))
    row = observer.execute("select version, state from eventstore.load_snapshot('snap-1')").fetchone()
    assert row == (39, {"v": 39})


@pytest.mark.parametrize("isolation", ["repeatable read", "serializable"])
def test_snapshot_saves_in_snapshot_transactions_answer_or_es409_and_the_newest_wins(
    dsn, connect, isolation: str
) -> None:
    """Six REPEATABLE READ (or SERIALIZABLE) transactions take their snapshots, then save
    the snapshot of one stream at once, each at its own version, in a new order every round.
    A call answers true or false, or ES409 when a save it cannot see committed first (never
    PostgreSQL's 40001); retried in a new transaction until it answers, the newest version
    is the one stored. A SERIALIZABLE COMMIT may still fail with 40001 and is retried too."""
    savers = 6
    rounds = 40
    observer = connect()
    for r in range(rounds):
        append(observer, f"rr-snap-{r}", -1, batch(*["E"] * savers))
    orders = [random.Random(r).sample(range(savers), savers) for r in range(rounds)]
    start = threading.Barrier(savers)

    def saver(n: int) -> list[str]:
        outcomes: list[str] = []
        with psycopg.connect(dsn) as conn:
            for r in range(rounds):
                stream, version = f"rr-snap-{r}", orders[r][n]
                first_try = True
                while True:
                    conn.execute(f"set transaction isolation level {isolation}")
                    conn.execute("select 1")  # takes the transaction's snapshot before any save
                    if first_try:
                        start.wait(timeout=60)
                        first_try = False
                    try:
                        row = conn.execute(
                            "select eventstore.save_snapshot(%s, %s, %s::jsonb)",
                            (stream, version, json.dumps({"v": version})),
                        ).fetchone()
                    except psycopg.Error as error:
                        conn.rollback()
                        outcomes.append(str(error.sqlstate))
                        if error.sqlstate != "ES409":
                            break
                        continue
                    assert row is not None
                    try:
                        conn.commit()
                    except psycopg.errors.SerializationFailure:
                        outcomes.append("40001 at commit")
                        continue
                    outcomes.append(str(row[0]))
                    break
        return outcomes

    with ThreadPoolExecutor(max_workers=savers) as pool:
        outcomes = [o for os in pool.map(saver, range(savers)) for o in os]
    allowed = {"True", "False", "ES409"} | ({"40001 at commit"} if isolation == "serializable" else set())
    assert set(outcomes) <= allowed, sorted(set(outcomes) - allowed)
    assert outcomes.count("True") + outcomes.count("False") == savers * rounds
    assert outcomes.count("ES409") > 0, "the saves never overlapped"
    stored = observer.execute(
        "select s.version, s.state from eventstore.snapshots s where s.stream_id like 'rr-snap-%'"
    ).fetchall()
    assert stored == [(savers - 1, {"v": savers - 1})] * rounds


@pytest.mark.parametrize("isolation", ["repeatable read", "serializable"])
@pytest.mark.parametrize("losing_batch", ["one event", "two events", "with ids"])
def test_in_a_snapshot_transaction_the_blocked_writer_gets_es409(
    connect, isolation: str, losing_batch: str
) -> None:
    """A REPEATABLE READ or SERIALIZABLE transaction whose snapshot predates the winner's
    commit cannot see the new version; PostgreSQL's refusal (40001, or 23505 on the
    version for a batch with ids) reaches it as ES409 with actual_version null, and it
    wrote nothing."""
    observer = connect()
    stream = f"rr-{isolation.replace(' ', '-')}-{losing_batch.replace(' ', '-')}"
    append(observer, stream, -1, batch("Created"))
    holder = connect(autocommit=False)
    append(holder, stream, 0, batch("Won"))
    loser = connect(autocommit=False)
    loser.execute(f"set transaction isolation level {isolation}")
    loser.execute("select 1")  # takes the transaction's snapshot before the winner commits
    pool = ThreadPoolExecutor(max_workers=1)
    events = {
        "one event": batch("Lost"),
        "two events": batch("Lost", "AlsoLost"),
        "with ids": batch("Lost", ids=[uuid.uuid4()]),
    }[losing_batch]

    def call() -> tuple[str | None, str | None]:
        try:
            append(loser, stream, 0, events)
        except psycopg.Error as error:
            return error.sqlstate, error.diag.message_detail
        return None, None

    future = pool.submit(call)
    wait_until_blocked(observer, [loser.info.backend_pid])
    holder.commit()
    with pool:
        sqlstate, detail = future.result(timeout=30)
    assert sqlstate == "ES409"
    assert json.loads(detail or "{}") == {"stream_id": stream, "expected_version": 0, "actual_version": None}
    loser.rollback()
    assert versions(observer, stream) == [0, 1]


@pytest.mark.parametrize("isolation", ["repeatable read", "serializable"])
def test_in_a_snapshot_transaction_uncontended_appends_work(connect, isolation: str) -> None:
    conn = connect(autocommit=False)
    conn.execute(f"set transaction isolation level {isolation}")
    version, first, last = append(conn, "rr-free", -1, batch("A", "B"))
    assert (version, last - first) == (1, 1)
    assert append(conn, "rr-free", 1, batch("C"))[0] == 2
    conn.commit()
    assert versions(connect(), "rr-free") == [0, 1, 2]
