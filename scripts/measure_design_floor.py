"""Measure how close any PL/pgSQL append could come to the benchmark's floor.

Usage: .venv/bin/python scripts/measure_design_floor.py [--calls 6000] [--rounds 10] [--durable]

Starts a throwaway cluster (pgeventstore.cluster: fsync and synchronous_commit off, or the
server's durable defaults with --durable), installs the store and the benchmark's floor
tables, and adds, in a scratch schema, the store's insert statements stripped of
everything but what an append with an expected version cannot do without:

* ``bare sql``: the store's INSERT as a plain prepared statement, no function;
* ``bare function``: that INSERT in a PL/pgSQL function, ES409-free (it raises a plain
  error when nothing was inserted), with no argument rule, no isolation or log-order test
  and no NOTIFY, but SECURITY DEFINER with a pinned search_path like the store's own;
* ``bare, invoker``: the same function without SECURITY DEFINER and SET.

One connection then calls each of them, eventstore.append_event and the floor's INSERT in
interleaved turns (workload 1: a new stream per call, expected version -1; workload 2: one
stream, the exact version), and prints per call the wall time, the client's CPU time, the
backend's CPU time (from /proc, so the cluster must be local) and the rate as a ratio to
the floor's. docs/performance.md (round 5) explains what the figures show.
"""

from __future__ import annotations

import argparse
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg

from pgeventstore import schema
from pgeventstore.cluster import temporary_cluster
from pgeventstore_bench.statements import EVENT_TYPE, FLOOR_INSERT_SQL, FLOOR_SCHEMA_SQL, PAYLOAD_JSON

# append_event called with the four arguments the bare functions below take.
STORE_APPEND_EVENT_SQL = (
    "select stream_version, first_position, last_position "
    "from eventstore.append_event(%s::text, %s::bigint, %s::text, %s::jsonb)"
)

# The store's two inserts as eventstore.append_event writes them, with the argument
# placeholders of a prepared statement.
NEW_STREAM_INSERT = """
    insert into eventstore.events
        (stream_id, version, event_id, event_type, data, metadata, transaction_id)
    values ({stream}, 0, gen_random_uuid(), {type}, {data}, null, pg_current_xact_id())
    on conflict on constraint events_stream_version_key do nothing
    returning 0, global_position, global_position"""
EXACT_INSERT = """
    insert into eventstore.events
        (global_position, stream_id, version, event_id, event_type, data, metadata,
         transaction_id, recorded_at)
    overriding system value
    select nextval('eventstore.events_global_position_seq'), {stream}, e.version + 1,
           gen_random_uuid(), {type}, {data}, null,
           greatest(pg_current_xact_id(), e.transaction_id), now()
      from eventstore.events e
     where e.stream_id = {stream} and e.version = {expected}
    on conflict on constraint events_stream_version_key do nothing
    returning version, global_position, global_position"""
FUNCTION = """
create function design_floor.{name}(p_stream_id text, p_expected bigint, p_type text, p_data jsonb)
returns eventstore.append_result
language plpgsql
volatile
{security}
as $$
declare
    v_result eventstore.append_result;
begin
    {insert} into v_result;
    if not found then
        raise exception 'nothing inserted';
    end if;
    return v_result;
end;
$$;
"""
DEFINER = "security definer set search_path = pg_catalog, pg_temp"
SQL_ARGS = {"stream": "p_stream_id", "expected": "p_expected", "type": "p_type", "data": "p_data"}
PREPARED_ARGS = {
    "stream": "%(stream)s::text",
    "expected": "%(expected)s::bigint",
    "type": "%(type)s::text",
    "data": "%(data)s::jsonb",
}


def scratch_schema() -> str:
    """The scratch schema with the bare functions (owned by the superuser, like the store)."""
    parts = ["create schema design_floor;"]
    for shape, insert in (("new", NEW_STREAM_INSERT), ("exact", EXACT_INSERT)):
        for suffix, security in (("definer", DEFINER), ("invoker", "")):
            parts.append(
                FUNCTION.format(name=f"{shape}_{suffix}", security=security, insert=insert.format(**SQL_ARGS))
            )
    return "\n".join(parts)


def call_of(function: str) -> str:
    """The benchmark's call of append_event, made to call ``function`` (of the same signature)."""
    return STORE_APPEND_EVENT_SQL.replace("eventstore.append_event(", f"{function}(")


@dataclass
class Cost:
    """Summed per-call figures of one variant, in microseconds."""

    wall: float = 0.0
    client: float = 0.0
    backend: float = 0.0
    calls: int = 0


def backend_cpu_ns(pid: int) -> int:
    """CPU time the backend has run, in nanoseconds (the first field of schedstat)."""
    with open(f"/proc/{pid}/schedstat") as stat:
        return int(stat.read().split()[0])


def measure(variants: dict[str, Callable[[], Any]], pid: int, calls: int, rounds: int) -> dict[str, Cost]:
    """Run every variant ``calls`` times in all, in ``rounds`` turns that alternate the order."""
    costs = {name: Cost() for name in variants}
    per_turn = max(1, calls // rounds)
    names = list(variants)
    for turn in range(rounds):
        for name in names if turn % 2 == 0 else reversed(names):
            call = variants[name]
            client, backend, wall = time.thread_time_ns(), backend_cpu_ns(pid), time.perf_counter_ns()
            for _ in range(per_turn):
                call()
            cost = costs[name]
            cost.wall += (time.perf_counter_ns() - wall) / 1000
            cost.client += (time.thread_time_ns() - client) / 1000
            cost.backend += (backend_cpu_ns(pid) - backend) / 1000
            cost.calls += per_turn
    return costs


def workload_variants(conn: psycopg.Connection[Any], exact: bool) -> dict[str, Callable[[], Any]]:
    """The callables of one workload: the floor first, then the store, then the bare variants."""
    counter = itertools.count()
    shape = "exact" if exact else "new"
    prepared_insert = (EXACT_INSERT if exact else NEW_STREAM_INSERT).format(**PREPARED_ARGS)
    versions: dict[str, int] = {}

    def caller(name: str, query: str, params: Callable[[str], Any]) -> Callable[[], Any]:
        def call() -> Any:
            row = conn.execute(query, params(name)).fetchone()
            if row is None:
                raise RuntimeError(f"{name}: nothing inserted")
            return row

        return call

    def store_params(name: str) -> tuple[Any, ...]:
        if not exact:
            return (f"{name}-{next(counter)}", -1, EVENT_TYPE, PAYLOAD_JSON)
        versions[name] = versions.get(name, -1) + 1
        return (f"{name}-stream", versions[name] - 1, EVENT_TYPE, PAYLOAD_JSON)

    def sql_params(name: str) -> dict[str, Any]:
        stream, expected, type_, data = store_params(name)
        return {"stream": stream, "expected": expected, "type": type_, "data": data}

    def floor_params(name: str) -> tuple[Any, ...]:
        stream, expected, type_, data = store_params(name)
        return (stream, expected + 1, type_, data)

    if exact:
        # The bare variants start from an existing stream: they know no -1.
        for name in ("bare sql", "bare function", "bare, invoker"):
            conn.execute(STORE_APPEND_EVENT_SQL, (f"{name}-stream", -1, EVENT_TYPE, PAYLOAD_JSON))
            versions[name] = 0
    return {
        "floor": caller("floor", FLOOR_INSERT_SQL, floor_params),
        "append_event": caller("append_event", STORE_APPEND_EVENT_SQL, store_params),
        "bare sql": caller("bare sql", prepared_insert, sql_params),
        "bare function": caller("bare function", call_of(f"design_floor.{shape}_definer"), store_params),
        "bare, invoker": caller("bare, invoker", call_of(f"design_floor.{shape}_invoker"), store_params),
    }


def main() -> None:
    """Parse the arguments, run both workloads and print their tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=6000, help="calls per variant and workload")
    parser.add_argument("--rounds", type=int, default=10, help="interleaved turns per variant")
    parser.add_argument("--durable", action="store_true", help="the server's durable defaults")
    args = parser.parse_args()
    with temporary_cluster(settings={} if args.durable else None) as cluster:
        dsn = cluster.dsn()
        schema.migrate(dsn)
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(FLOOR_SCHEMA_SQL)
            conn.execute(scratch_schema())
        with psycopg.connect(dsn, autocommit=True) as conn:
            row = conn.execute("select pg_backend_pid()").fetchone()
            assert row is not None
            pid: int = row[0]
            print("durable" if args.durable else "fsync off (CPU-bound)", f"{args.calls} calls per variant")
            for exact, title in ((False, "workload 1: new streams"), (True, "workload 2: exact version")):
                costs = measure(workload_variants(conn, exact), pid, args.calls, args.rounds)
                floor_wall = costs["floor"].wall / costs["floor"].calls
                print(
                    f"\n{title}\n{'variant':16s} {'wall us':>8s} {'client us':>10s} {'backend us':>11s} ratio"
                )
                for name, cost in costs.items():
                    wall = cost.wall / cost.calls
                    print(
                        f"{name:16s} {wall:8.1f} {cost.client / cost.calls:10.1f} "
                        f"{cost.backend / cost.calls:11.1f} {floor_wall / wall:5.3f}"
                    )


if __name__ == "__main__":
    main()
