"""Workloads 1 to 5 (appends) and the Python client's overhead (w1, w3)."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from typing import TYPE_CHECKING

import psycopg

from pgeventstore.calls import APPEND_EVENT_SQL
from pgeventstore.store import EventStore
from pgeventstore.values import NO_STREAM, NewEvent
from pgeventstore_bench.measure import (
    Op,
    Result,
    Side,
    Target,
    hand_target,
    interleaved,
    rate_ratio,
    timed,
    timed_concurrently,
)
from pgeventstore_bench.statements import (
    EVENT_TYPE,
    FLOOR,
    HAND,
    PAYLOAD,
    batch_json,
    floor_insert,
    floor_insert_batch,
    store_append,
    store_append_event,
)

if TYPE_CHECKING:
    from pgeventstore_bench.run import Bench

#: Turns per round of the single-client write workloads (see :func:`interleaved`).
SINGLE_BLOCKS = 10


def workloads(bench: Bench) -> list[Result]:
    """Workloads 1 to 5 and the wrapper's overhead."""
    s, rounds = bench.scale, bench.rounds
    per_block = max(1, s.single_calls // SINGLE_BLOCKS)

    def single_client(store: Op, floor: Op, hand: Op, label: str) -> dict[str, Side]:
        return interleaved(
            rounds,
            {
                "store": lambda: timed(per_block, store),
                "floor": lambda: timed(per_block, floor),
                "hand": lambda: timed(per_block, hand),
            },
            bench.progress,
            label,
            blocks=SINGLE_BLOCKS,
        )

    conn = bench.connect()
    one = batch_json(1)
    hundred = batch_json(100)
    counter = itertools.count()

    def new_stream(kind: str) -> Op:
        def op() -> tuple[int, int]:
            stream_id = f"w1-{next(counter)}"
            if kind == "store":
                store_append_event(conn, stream_id, NO_STREAM)
            elif kind == "batch":
                store_append(conn, stream_id, NO_STREAM, one)
            else:
                floor_insert(conn, kind, stream_id, 0)
            return 1, 0

        return op

    w1 = single_client(new_stream("store"), new_stream(FLOOR), new_stream(HAND), "1 new streams")
    w1_batch = single_client(
        new_stream("batch"), new_stream(FLOOR), new_stream(HAND), "1b new streams, one-event batches"
    )

    versions = {"store": -1, "batch": -1, FLOOR: -1, HAND: -1}

    def exact(kind: str, stream_id: str) -> Op:
        def op() -> tuple[int, int]:
            if kind == "store":
                versions[kind] = store_append_event(conn, stream_id, versions[kind])[0]
            elif kind == "batch":
                versions[kind] = store_append(conn, stream_id, versions[kind], one)
            else:
                versions[kind] += 1
                floor_insert(conn, kind, stream_id, versions[kind])
            return 1, 0

        return op

    w2 = single_client(exact("store", "w2"), exact(FLOOR, "w2"), exact(HAND, "w2"), "2 one stream")
    w2_batch = single_client(
        exact("batch", "w2b"), exact(FLOOR, "w2"), exact(HAND, "w2"), "2b one stream, one-event batches"
    )

    def batch(kind: str) -> Op:
        def op() -> tuple[int, int]:
            if kind == "store":
                versions[kind] = store_append(conn, "w3", versions[kind], hundred)
            else:
                floor_insert_batch(conn, kind, "w3", versions[kind] + 1, 100)
                versions[kind] += 100
            return 100, 0

        return op

    versions.update({"store": -1, FLOOR: -1, HAND: -1})
    w3 = interleaved(
        rounds,
        {kind: lambda k=kind: timed(s.batch_calls, batch(k)) for kind in ("store", FLOOR, HAND)},  # type: ignore[misc]
        bench.progress,
        "3 batches of 100",
    )
    w3 = {"store": w3["store"], "floor": w3[FLOOR], "hand": w3[HAND]}

    w4 = _clients_workload(bench)
    w5 = _race_workload(bench)
    wrapper = _wrapper_workloads(bench)

    w5_target = Target(
        "successful appends >= 0.5 x workload 2's rate", rate_ratio(w5["store"], w2["store"]), 0.5
    )
    return [
        Result.of("1", "one event per call, new streams", w1, hand_target(w1, 0.92)),
        Result.of("1b", "workload 1 as one-event batches (append_to_stream)", w1_batch, None),
        Result.of("2", "one event per call, one stream, exact version", w2, hand_target(w2, 0.92)),
        Result.of("2b", "workload 2 as one-event batches (append_to_stream)", w2_batch, None),
        Result.of("3", "100 events per call (floors: 100 pipelined INSERTs)", w3, hand_target(w3, 1.0)),
        Result.of("4", "one event per call, 8 clients, one category", w4, hand_target(w4, 0.90)),
        Result.of(
            "5",
            "4 clients racing on one stream, retry on conflict",
            w5,
            w5_target,
            note=f"conflict rate {_conflict_rate(w5['store']):.1%} "
            f"(floor {_conflict_rate(w5['floor']):.1%}, hand-made {_conflict_rate(w5['hand']):.1%})",
        ),
        *wrapper,
    ]


def _conflict_rate(side: Side) -> float:
    attempts = side.events + side.conflicts
    return side.conflicts / attempts if attempts else 0.0


def _clients_workload(bench: Bench) -> dict[str, Side]:
    """Workload 4: eight clients, each appending to its own stream of one category."""
    clients = 8
    conns = {kind: [bench.connect() for _ in range(clients)] for kind in ("store", FLOOR, HAND)}
    versions = {kind: [-1] * clients for kind in conns}

    def op(kind: str, i: int) -> Op:
        def call() -> tuple[int, int]:
            if kind == "store":
                versions[kind][i] = store_append_event(conns[kind][i], f"w4-{i}", versions[kind][i])[0]
            else:
                versions[kind][i] += 1
                floor_insert(conns[kind][i], kind, f"w4-{i}", versions[kind][i])
            return 1, 0

        return call

    def run(kind: str) -> Callable[[], Side]:
        return lambda: timed_concurrently(bench.scale.clients_calls, [op(kind, i) for i in range(clients)])

    sides = interleaved(
        bench.rounds,
        {"store": run("store"), "floor": run(FLOOR), "hand": run(HAND)},
        bench.progress,
        "4 eight clients",
    )
    return sides


def _race_workload(bench: Bench) -> dict[str, Side]:
    """Workload 5: four clients appending to one stream, retrying with the version they learn."""
    clients = 4
    conns = {kind: [bench.connect() for _ in range(clients)] for kind in ("store", FLOOR, HAND)}
    known = {kind: [-1] * clients for kind in conns}

    def store_op(i: int) -> Op:
        def op() -> tuple[int, int]:
            conflicts = 0
            while True:
                try:
                    known["store"][i] = store_append_event(conns["store"][i], "w5-race", known["store"][i])[0]
                    return 1, conflicts
                except psycopg.Error as error:
                    if error.sqlstate != "ES409" or error.diag.message_detail is None:
                        raise
                    known["store"][i] = json.loads(error.diag.message_detail)["actual_version"]
                    conflicts += 1

        return op

    def floor_op(schema: str, i: int) -> Op:
        def op() -> tuple[int, int]:
            conflicts = 0
            conn = conns[schema][i]
            while True:
                try:
                    floor_insert(conn, schema, "w5-race", known[schema][i] + 1)
                    known[schema][i] += 1
                    return 1, conflicts
                except psycopg.errors.UniqueViolation:
                    row = conn.execute(
                        f"select max(version) from {schema}.events where stream_id = 'w5-race'"
                    ).fetchone()
                    known[schema][i] = row[0] if row and row[0] is not None else -1
                    conflicts += 1

        return op

    calls = bench.scale.race_calls
    return interleaved(
        bench.rounds,
        {
            "store": lambda: timed_concurrently(calls, [store_op(i) for i in range(clients)]),
            "floor": lambda: timed_concurrently(calls, [floor_op(FLOOR, i) for i in range(clients)]),
            "hand": lambda: timed_concurrently(calls, [floor_op(HAND, i) for i in range(clients)]),
        },
        bench.progress,
        "5 racing clients",
    )


def _wrapper_workloads(bench: Bench) -> list[Result]:
    """Workloads 1 and 3 through EventStore against the same SQL call through bare psycopg.

    The hand-made side inserts the same events into the hand-made table: what the Python
    client reaches against the table a user would write.
    """
    conn = bench.connect()
    store = EventStore(conn)
    counter = itertools.count()
    one_event = [NewEvent(EVENT_TYPE, PAYLOAD)]
    hundred_events = [NewEvent(EVENT_TYPE, PAYLOAD) for _ in range(100)]

    def wrapped(events: list[NewEvent]) -> Op:
        def op() -> tuple[int, int]:
            if len(events) == 1:
                store.append_event(f"wrap-{next(counter)}", events[0], NO_STREAM)
            else:
                store.append(f"wrap-{next(counter)}", events, NO_STREAM)
            return len(events), 0

        return op

    def bare(events: list[NewEvent]) -> Op:
        def op() -> tuple[int, int]:
            if len(events) == 1:
                row = (
                    f"wrap-{next(counter)}",
                    NO_STREAM,
                    events[0].type,
                    json.dumps(events[0].data),
                    None,
                    None,
                )
                conn.execute(APPEND_EVENT_SQL, row).fetchone()
            else:
                payload = json.dumps([{"type": e.type, "data": e.data} for e in events])
                store_append(conn, f"wrap-{next(counter)}", NO_STREAM, payload)
            return len(events), 0

        return op

    def hand(events: list[NewEvent]) -> Op:
        def op() -> tuple[int, int]:
            if len(events) == 1:
                floor_insert(conn, HAND, f"wrap-{next(counter)}", 0)
            else:
                floor_insert_batch(conn, HAND, f"wrap-{next(counter)}", 0, len(events))
            return len(events), 0

        return op

    results = []
    for key, events, calls in (
        ("w1", one_event, bench.scale.single_calls),
        ("w3", hundred_events, bench.scale.batch_calls),
    ):
        sides = interleaved(
            bench.rounds,
            {
                "store": lambda ev=events, n=calls: timed(n, wrapped(ev)),  # type: ignore[misc]
                "floor": lambda ev=events, n=calls: timed(n, bare(ev)),  # type: ignore[misc]
                "hand": lambda ev=events, n=calls: timed(n, hand(ev)),  # type: ignore[misc]
            },
            bench.progress,
            f"wrapper {key}",
        )
        results.append(
            Result.of(
                key,
                f"wrapper: workload {key[1:]} through EventStore (floor: same SQL, bare psycopg)",
                sides,
                Target("ratio to bare psycopg >= 0.85", rate_ratio(sides["store"], sides["floor"]), 0.85),
            )
        )
    return results
