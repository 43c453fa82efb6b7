"""Workloads 6 (read_all), 7 and 7b (read_stream) and 8 (aggregate loads)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from psycopg import sql

from pgeventstore.aggregate import AggregateType, Repository
from pgeventstore.calls import READ_ALL_SQL, READ_STREAM_SQL
from pgeventstore.store import EventStore
from pgeventstore_bench.measure import Op, Result, Side, Target, hand_target, interleaved, timed
from pgeventstore_bench.numbering import number_backlog
from pgeventstore_bench.statements import (
    COPY_TO_HAND_SQL,
    EVENT_TYPE,
    FLOOR,
    FLOOR_READ_ALL_SQL,
    HAND,
    HAND_READ_ALL_SQL,
    Conn,
    batch_json,
    read_stream_sql,
    snapshot_sql,
    store_append,
    tail_sql,
)

if TYPE_CHECKING:
    from pgeventstore_bench.run import Bench

#: The page size of workload 6.
PAGE = 1000
#: Turns per round of workloads 7 and 7b (see :func:`interleaved`).
READ_STREAM_BLOCKS = 10


def workloads(bench: Bench) -> list[Result]:
    """Fill one database, copy it into both floors, then read it three ways."""
    s = bench.scale
    conn = bench.connect()
    small, large = s.aggregate_sizes
    _fill_stream(conn, "w7", s.stream_length, min(s.stream_length, 1000))
    _fill_stream(conn, "w7b", s.short_stream_length, min(s.short_stream_length, 1000))
    _fill_stream(conn, "agg-small", small, 100, snapshot_every=100)
    _fill_stream(conn, "agg-large", large, 100, snapshot_every=100)
    # Workload 6 reads a numbered log; workload 10 measures the numbering.
    row = conn.execute("select count(*) from eventstore.events").fetchone()
    number_backlog(conn, row[0] if row else 0)
    _copy_to_floors(conn)
    bench.settle()
    bench.progress("fill")

    w6 = _read_all_workload(bench, conn)
    stream_reads = []
    for key, stream_id, length, calls in (
        ("7", "w7", s.stream_length, s.read_stream_calls),
        ("7b", "w7b", s.short_stream_length, s.short_stream_calls),
    ):
        sides = _read_stream_workload(bench, conn, key, stream_id, length, calls)
        stream_reads.append(
            Result.of(
                key, f"read_stream of a {length}-event stream, one call", sides, hand_target(sides, 0.95)
            )
        )
    small_sides, large_sides = _aggregate_workloads(bench, conn)
    note = "Repository.load (load_stream: snapshot + later events, one call), snapshots every 100"
    growth = large_sides["store"].percentile_ms(50) / small_sides["store"].percentile_ms(50)
    return [
        Result.of("6", f"read_all of the whole log, pages of {PAGE}", w6, hand_target(w6, 0.95)),
        *stream_reads,
        Result.of("8a", f"load a {small}-event aggregate", small_sides, None, note),
        Result.of(
            "8b",
            f"load a {large}-event aggregate",
            large_sides,
            Target(
                f"p50 load time of {large} events <= 3 x that of {small}",
                growth,
                3.0,
                at_least=False,
                applies=large >= 100_000,
            ),
            note,
        ),
    ]


def _fill_stream(
    conn: Conn, stream_id: str, length: int, batch: int, snapshot_every: int | None = None
) -> None:
    """Append ``length`` events to a new stream through the store, ``batch`` per call."""
    version = -1
    payload = batch_json(batch)
    while version + 1 < length:
        version = store_append(conn, stream_id, version, payload)
        if snapshot_every and (version + 1) % snapshot_every == 0:
            conn.execute(
                "select eventstore.save_snapshot(%s, %s, %s::jsonb)",
                (stream_id, version, json.dumps({"events": version + 1})),
            )


def _copy_to_floors(conn: Conn) -> None:
    """Make both floors' tables hold exactly the store's rows."""
    conn.execute("insert into bench_floor.events overriding system value select * from eventstore.events")
    conn.execute("insert into bench_floor.snapshots select * from eventstore.snapshots")
    conn.execute(COPY_TO_HAND_SQL)
    conn.execute(
        "insert into bench_hand.snapshots (stream_id, version, state) "
        "select stream_id, version, state from eventstore.snapshots"
    )
    for schema in (FLOOR, HAND):
        conn.execute(
            sql.SQL(
                "select setval(pg_get_serial_sequence({}, 'global_position'), "
                "(select max(global_position) from {}.events))"
            ).format(sql.Literal(f"{schema}.events"), sql.Identifier(schema))
        )
    conn.execute("vacuum analyze bench_floor.events, bench_hand.events, eventstore.events, eventstore.log")


def _read_stream_workload(
    bench: Bench, conn: Conn, key: str, stream_id: str, length: int, calls: int
) -> dict[str, Side]:
    """Read a whole stream in one call through eventstore.read_stream and through the floors' SELECT.

    A round's calls are split into short turns (as the single-client appends are), so that a
    change in the machine's speed falls on every side alike.
    """
    blocks = min(calls, READ_STREAM_BLOCKS)

    def reading(query: str, params: tuple[object, ...]) -> Callable[[], Side]:
        def op() -> tuple[int, int]:
            return len(conn.execute(query, params).fetchall()), 0

        return lambda: timed(max(1, calls // blocks), op)

    return interleaved(
        bench.rounds,
        {
            "store": reading(READ_STREAM_SQL, (stream_id, 0, length, False)),
            "floor": reading(read_stream_sql(FLOOR), (stream_id, 0, length)),
            "hand": reading(read_stream_sql(HAND), (stream_id, 0, length)),
        },
        bench.progress,
        f"{key} read_stream",
        blocks=blocks,
    )


def _read_all_workload(bench: Bench, conn: Conn) -> dict[str, Side]:
    """Page through the whole log with eventstore.read_all and with keyset SELECTs on the floors."""

    def paging(
        query: str, start: tuple[object, ...], cursor_of: Callable[[tuple[object, ...]], tuple[object, ...]]
    ) -> Callable[[], Side]:
        # read_all's filters (event types, category, cursor's event id) are NULL: the whole log.
        tail: tuple[object, ...] = (PAGE, None, None, None) if query == READ_ALL_SQL else (PAGE,)

        def one_pass() -> Side:
            side = Side()
            cursor = start
            began_pass = time.perf_counter()
            while True:
                began = time.perf_counter()
                rows = conn.execute(query, (*cursor, *tail)).fetchall()
                side.latencies.append(time.perf_counter() - began)
                side.calls += 1
                side.events += len(rows)
                if len(rows) < PAGE:
                    break
                cursor = cursor_of(rows[-1])
            side.seconds = time.perf_counter() - began_pass
            return side

        return one_pass

    # The cursors are the last columns: the log number, the transaction id and position, the position.
    return interleaved(
        bench.rounds,
        {
            "store": paging(READ_ALL_SQL, (0,), lambda row: (row[8],)),
            "floor": paging(FLOOR_READ_ALL_SQL, ("0", 0), lambda row: (row[8], row[2])),
            "hand": paging(HAND_READ_ALL_SQL, (0,), lambda row: (row[8],)),
        },
        bench.progress,
        "6 read_all",
    )


def _aggregate_workloads(bench: Bench, conn: Conn) -> tuple[dict[str, Side], dict[str, Side]]:
    """Load the small and the large aggregate through the store and through plain SQL."""
    counter = AggregateType(
        "BenchCounter",
        {"events": 0},
        snapshot_every=100,
        reducers={EVENT_TYPE: lambda state, event: {"events": state["events"] + 1}},
    )
    repository = Repository(EventStore(conn), counter)

    def store_load(stream_id: str) -> Op:
        def op() -> tuple[int, int]:
            aggregate = repository.load(stream_id)
            return aggregate.replayed + (0 if aggregate.snapshot_version is None else 1), 0

        return op

    def floor_load(schema: str, stream_id: str) -> Op:
        def op() -> tuple[int, int]:
            snapshot = conn.execute(snapshot_sql(schema), (stream_id,)).fetchone()
            after = snapshot[0] if snapshot else -1
            rows = conn.execute(tail_sql(schema), (stream_id, after)).fetchall()
            return len(rows) + (1 if snapshot else 0), 0

        return op

    loads = bench.scale.aggregate_loads

    def sides(stream_id: str) -> dict[str, Side]:
        return interleaved(
            bench.rounds,
            {
                "store": lambda: timed(loads, store_load(stream_id)),
                "floor": lambda: timed(loads, floor_load(FLOOR, stream_id)),
                "hand": lambda: timed(loads, floor_load(HAND, stream_id)),
            },
            bench.progress,
            f"8 load {stream_id}",
        )

    return sides("agg-small"), sides("agg-large")
