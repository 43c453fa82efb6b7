"""Workloads 10 and 11: the global log's numbering (eventstore.number_log) and a live reader."""

from __future__ import annotations

import itertools
import multiprocessing
import time
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event as EventType
from typing import TYPE_CHECKING, Any

from pgeventstore.calls import NUMBER_LOG_SQL
from pgeventstore.store import EventStore
from pgeventstore.values import NO_STREAM, LogFilter
from pgeventstore_bench.measure import (
    Op,
    Result,
    Side,
    Target,
    interleaved,
    rate_ratio,
    timed,
    timed_concurrently,
)
from pgeventstore_bench.statements import (
    HAND,
    Conn,
    batch_json,
    floor_insert,
    floor_insert_batch,
    store_append,
    store_append_event,
)

if TYPE_CHECKING:
    from pgeventstore_bench.run import Bench

#: Workload 11: the appending clients, and how long the reader sleeps once caught up.
FOLLOW_WRITERS = 8
POLL_INTERVAL = 0.005
#: How long workload 11's reader may take, after the writers stopped, to get every event.
DRAIN_SECONDS = 30.0
#: How long number_backlog retries when number_log finds nothing readable (an older
#: transaction of another session still open holds the backlog back).
NUMBERING_PATIENCE = 30.0


def number_backlog(conn: Conn, count: int) -> Side:
    """Call eventstore.number_log, as the log readers do, until it has numbered ``count`` events.

    Each call is its own transaction with the default max_count (10,000), as the call a
    reader makes first.
    """
    side = Side()
    start = time.perf_counter()
    while side.events < count:
        began = time.perf_counter()
        row = conn.execute(NUMBER_LOG_SQL).fetchone()
        side.latencies.append(time.perf_counter() - began)
        side.calls += 1
        numbered = int(row[0]) if row else 0
        side.events += numbered
        if not numbered:
            if time.perf_counter() - start > NUMBERING_PATIENCE:
                raise RuntimeError(
                    f"number_log numbered nothing for {NUMBERING_PATIENCE:.0f} s with "
                    f"{count - side.events} event(s) left: a transaction older than them stays open"
                )
            time.sleep(POLL_INTERVAL)
    side.seconds = time.perf_counter() - start
    return side


def numbering_workload(bench: Bench, fastest_append: Side) -> Result:
    """Workload 10: number a backlog nothing has read, against appending that backlog.

    Each round appends the backlog in 100-event batches (the fastest append workload, 3,
    as new streams), then numbers it: the numbering is compared with the appending it
    follows (the floor), with the same rows inserted into the hand-made table (100
    pipelined INSERTs per transaction) and with workload 3's rate in the same run.
    """
    conn = bench.connect()
    backlog = bench.scale.numbering_backlog
    hundred = batch_json(100)
    streams = itertools.count()

    def append_batch() -> tuple[int, int]:
        store_append(conn, f"w10-{next(streams)}", NO_STREAM, hundred)
        return 100, 0

    def hand_batch() -> tuple[int, int]:
        floor_insert_batch(conn, HAND, f"w10-{next(streams)}", 0, 100)
        return 100, 0

    numbering, appending, hand = Side(), Side(), Side()
    for _ in range(bench.rounds):
        appending.add(timed(backlog // 100, append_batch))
        bench.progress("10 append a backlog")
        numbering.add(number_backlog(conn, appending.events - numbering.events))
        bench.progress("10 number_log")
        hand.add(timed(backlog // 100, hand_batch))
        bench.progress("10 hand-made inserts")
    versus_fastest = rate_ratio(numbering, fastest_append)
    return Result(
        "10",
        f"number_log of {backlog:,} unread events per round, 10,000 per call "
        "(floor: appending them, 100 per call; hand-made: inserting them, 100 per transaction)",
        numbering,
        appending,
        hand,
        Target("events numbered/s >= workload 3's appended/s", versus_fastest, 1.0),
        f"workload 3 appended {fastest_append.rate:,.0f} events/s",
        {
            "numbered_per_s": round(numbering.rate, 1),
            "workload_3_per_s": round(fastest_append.rate, 1),
            "numbered_per_workload_3": round(versus_fastest, 3),
            "number_log_calls": numbering.calls,
        },
    )


def _follow(
    dsn: str,
    cursor: tuple[int, Any],
    ready: EventType,
    writers_done: EventType,
    acked: Connection,
    report: Connection,
) -> None:
    """Workload 11's reader, in a process of its own: follow the log, note when each event came.

    Reads pages of 1,000 by log number through EventStore.read_log, polling every
    POLL_INTERVAL once caught up (no NOTIFY); ``ready`` is set once it has connected and
    read, so that its start-up is not measured. Once the writers are done, the parent sends
    the positions they appended; the reader stops when it has them all, or DRAIN_SECONDS
    later. It reports {global_position: time it first got it} and how many it got twice.
    """
    store = EventStore(dsn)
    received: dict[int, float] = {}
    repeated = 0
    log_number: Any = cursor[0]
    event_id: Any = cursor[1]
    expected: set[int] | None = None
    drain_until: float | None = None
    try:
        while True:
            got = 0
            for event in store.read_log(LogFilter(), log_number, after_event_id=event_id):
                now = time.perf_counter()
                if event.global_position in received:
                    repeated += 1
                else:
                    received[event.global_position] = now
                log_number, event_id = event.log_number, event.id
                got += 1
            ready.set()
            if writers_done.is_set():
                expected = expected if expected is not None else acked.recv()
                if expected <= received.keys():
                    break
                drain_until = drain_until or time.perf_counter() + DRAIN_SECONDS
                if time.perf_counter() > drain_until:
                    break
            if not got:
                time.sleep(POLL_INTERVAL)
    finally:
        store.close()
    report.send((received, repeated))


class _Follower:
    """Workload 11's reader and what it saw: the latencies, the events missed and repeated.

    The reader runs in a process of its own, as a subscriber would: in the writers'
    process it would wait for the interpreter's lock behind eight writer threads, which
    measured the benchmark's client rather than the store. Both processes take times from
    time.perf_counter, which is the system's monotonic clock.
    """

    def __init__(self, store: EventStore, dsn: str) -> None:
        self.store = store
        self.dsn = dsn
        # global_position -> when its writer got the commit acknowledgement
        self.acked: dict[int, float] = {}
        self.latencies: list[float] = []
        self.missed = 0
        self.repeated = 0

    def measure(self, ops: list[Op], seconds: float) -> Side:
        """Run the writers for ``seconds`` while the reader follows the log from its head."""
        # Start at the head: what the rounds without a reader appended is not measured.
        cursor = (self.store.log_head(), None)
        self.acked.clear()
        context = multiprocessing.get_context("spawn")
        ready, writers_done = context.Event(), context.Event()
        acked_out, acked_in = context.Pipe(duplex=False)
        report_out, report_in = context.Pipe(duplex=False)
        reader = context.Process(
            target=_follow, args=(self.dsn, cursor, ready, writers_done, acked_out, report_in), daemon=True
        )
        reader.start()
        try:
            if not ready.wait(60):
                raise RuntimeError("workload 11's reader did not start")
            side = timed_concurrently(0, ops, seconds=seconds)
        except BaseException:
            reader.kill()
            raise
        writers_done.set()
        acked_in.send(set(self.acked))
        if not report_out.poll(DRAIN_SECONDS + 60):
            reader.kill()
            raise RuntimeError("workload 11's reader did not report")
        received, repeated = report_out.recv()
        reader.join()
        if reader.exitcode != 0:
            raise RuntimeError(f"workload 11's reader exited with {reader.exitcode}")
        self.repeated += repeated
        for position, acked_at in self.acked.items():
            if position in received:
                self.latencies.append(received[position] - acked_at)
            else:
                self.missed += 1
        return side


def follow_workload(bench: Bench) -> Result:
    """Workload 11: commit-to-readable latency while 8 clients append one event per call.

    A reader process follows the log as a subscriber does (EventStore.read_log), and it
    alone numbers the events (through read_all): the default setup, no daemon. An event's
    latency is the time the reader first got it minus the time its writer got the commit's
    acknowledgement, both on the system's monotonic clock (time.perf_counter in the two
    processes). The floor is the same writers with no reader (the ratio is what following
    the log costs them); the hand-made side, eight clients inserting into the hand-made
    table.
    """
    writers = [bench.connect() for _ in range(FOLLOW_WRITERS)]
    hand_writers = [bench.connect() for _ in range(FOLLOW_WRITERS)]
    follower = _Follower(EventStore(bench.connect()), bench.dsn)
    versions = [-1] * FOLLOW_WRITERS
    hand_versions = [-1] * FOLLOW_WRITERS

    def writer(i: int) -> Op:
        def op() -> tuple[int, int]:
            versions[i], position = store_append_event(writers[i], f"w11-{i}", versions[i])
            # autocommit: the result arrives once the append has committed
            follower.acked[position] = time.perf_counter()
            return 1, 0

        return op

    def hand_writer(i: int) -> Op:
        def op() -> tuple[int, int]:
            hand_versions[i] += 1
            floor_insert(hand_writers[i], HAND, f"w11-{i}", hand_versions[i])
            return 1, 0

        return op

    ops = [writer(i) for i in range(FOLLOW_WRITERS)]
    hand_ops = [hand_writer(i) for i in range(FOLLOW_WRITERS)]
    # A session's first append checks the log frame: not part of the measure.
    for op in ops:
        op()
    seconds = bench.scale.follow_seconds
    sides = interleaved(
        bench.rounds,
        {
            "store": lambda: follower.measure(ops, seconds),
            "floor": lambda: timed_concurrently(0, ops, seconds=seconds),
            "hand": lambda: timed_concurrently(0, hand_ops, seconds=seconds),
        },
        bench.progress,
        "11 commit to readable",
    )
    latencies = follower.latencies
    delay = Side(latencies=latencies)
    details = {
        "events": len(latencies),
        "p50_ms": round(delay.percentile_ms(50), 3),
        "p99_ms": round(delay.percentile_ms(99), 3),
        "min_ms": round(min(latencies) * 1000, 3) if latencies else 0.0,
        "max_ms": round(max(latencies) * 1000, 3) if latencies else 0.0,
        "missed": follower.missed,
        "repeated": follower.repeated,
        "writers": FOLLOW_WRITERS,
        "poll_interval_ms": POLL_INTERVAL * 1000,
        "appends_per_s": round(sides["store"].rate, 1),
        "hand_inserts_per_s": round(sides["hand"].rate, 1),
    }
    return Result.of(
        "11",
        f"commit to readable: {FOLLOW_WRITERS} clients append one event per call, one reader "
        f"follows read_all (polls every {POLL_INTERVAL * 1000:g} ms) and numbers (floor: no reader; "
        "hand-made: 8 clients inserting)",
        sides,
        None,
        f"{details['appends_per_s']:,.0f} appends/s with the reader; "
        f"commit to readable p50 {details['p50_ms']:.2f} ms, p99 {details['p99_ms']:.2f} ms, "
        f"max {details['max_ms']:.2f} ms over {details['events']:,} events; "
        f"missed {details['missed']}, repeated {details['repeated']}",
        details,
    )
