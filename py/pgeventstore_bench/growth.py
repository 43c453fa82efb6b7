"""Workload 9: workload 1 on an empty store and on a filled one, their rounds interleaved."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import TYPE_CHECKING

from pgeventstore.values import NO_STREAM
from pgeventstore_bench.measure import Result, Side, Target, rate_ratio, timed
from pgeventstore_bench.statements import (
    EVENT_TYPE,
    FLOOR,
    HAND,
    PAYLOAD_JSON,
    Conn,
    batch_json,
    floor_insert,
    store_append,
    store_append_event,
)
from pgeventstore_bench.writes import SINGLE_BLOCKS

if TYPE_CHECKING:
    from pgeventstore_bench.run import Bench

GROWTH_FILL = 5_000_000
#: Events per append call of the fill.
FILL_BATCH = 1000


def workloads(bench: Bench) -> list[Result]:
    """Workload 1 on an empty store and on a filled one.

    Two databases, one filled first: measuring "empty" and "full" one after the other
    would compare two different moments of a shared machine, not two store sizes.
    """
    fill = GROWTH_FILL if bench.growth else bench.scale.growth_fill
    full_conn = bench.connect()
    empty_conn = bench.connect(bench.dsn_for(bench.create_database("growth_empty", bench.template)))
    _fill(full_conn, fill)
    bench.settle()
    bench.progress("fill")

    counter = itertools.count()
    per_block = max(1, bench.scale.single_calls // SINGLE_BLOCKS)

    def side(kind: str, conn: Conn) -> Callable[[], Side]:
        def op() -> tuple[int, int]:
            stream_id = f"w9-{next(counter)}"
            if kind == "store":
                store_append_event(conn, stream_id, NO_STREAM)
            else:
                floor_insert(conn, kind, stream_id, 0)
            return 1, 0

        return lambda: timed(per_block, op)

    runs = {
        (state, name): (Side(), side(kind, conn))
        for state, conn in (("empty", empty_conn), ("full", full_conn))
        for name, kind in (("store", "store"), ("floor", FLOOR), ("hand", HAND))
    }
    names = list(runs)
    for number in range(bench.rounds * SINGLE_BLOCKS):
        shift = number % len(names)
        for name in names[shift:] + names[:shift]:
            total, run = runs[name]
            total.add(run())
            if number % SINGLE_BLOCKS == SINGLE_BLOCKS - 1:
                bench.progress(f"9 {name[1]} {name[0]}")
    empty = {name: runs[("empty", name)][0] for name in ("store", "floor", "hand")}
    full = {name: runs[("full", name)][0] for name in ("store", "floor", "hand")}
    return [
        Result.of("9a", "workload 1 on an empty store", empty, None),
        Result.of(
            "9b",
            f"workload 1 after {fill:,} events (rounds interleaved with 9a)",
            full,
            Target(
                "rate after 5,000,000 events >= 0.80 x the empty store's",
                rate_ratio(full["store"], empty["store"]),
                0.80,
                applies=fill >= GROWTH_FILL,
            ),
            "" if fill >= GROWTH_FILL else f"fill of {fill:,} events only: run with --growth for 5,000,000",
        ),
    ]


def _fill(conn: Conn, fill: int) -> None:
    """Fill the store through its appends, and both floors with the same number of rows."""
    payload = batch_json(FILL_BATCH)
    for start in range(0, fill, FILL_BATCH):
        store_append(
            conn,
            f"fill-{start // FILL_BATCH}",
            NO_STREAM,
            payload if start + FILL_BATCH <= fill else batch_json(fill - start),
        )
    for schema in (FLOOR, HAND):
        conn.execute(
            f"insert into {schema}.events (stream_id, version, event_id, event_type, data) "
            "select 'fill-' || (g / %s), g %% %s, gen_random_uuid(), %s, %s::jsonb "
            "from generate_series(0, %s - 1) g",
            (FILL_BATCH, FILL_BATCH, EVENT_TYPE, PAYLOAD_JSON, fill),
        )
    conn.execute("vacuum analyze")
