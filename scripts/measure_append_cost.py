"""Load-independent costs of the store's calls against the benchmark's floors.

Usage: .venv/bin/python scripts/measure_append_cost.py [--design FILE.sql ...] [--calls 200]
       [--no-callgrind] [--only w1,w2,...]

Wall-clock ratios move with whatever else the machine runs; these figures do not. A
throwaway cluster (fsync off, full_page_writes off, so that no full-page image blurs the
WAL figures) gets the store, then each --design file (SQL run as the superuser: a design
to weigh, e.g. an index change with the function files it needs), then the benchmark's
two floors (pgeventstore_bench.statements: the same-indexes floor copies the store's
tables as they are after the designs). For each workload it prints:

* the index entries one call writes per event (every index of the table written, a
  partial index when its predicate holds for the row);
* WAL bytes per event (pg_current_wal_lsn before and after ``--calls`` calls, commit
  records included), and for the store's appends the WAL of numbering them
  (eventstore.number_log) per event;
* instructions per call (valgrind's callgrind on a single-user backend, counting only
  ``PortalRun``: the difference between a run of 20 calls and one of 20 + ``--calls``
  calls of the same prepared statement, so that start-up and the first executions, which
  plan, cancel out; for the reads 2 and 2 + ``--calls``/20). The single-user backend
  prints each result row, on every side.

The workloads are the benchmark's: w1 one event to a new stream, w2 one event with the
exact version, w1b/w2b the same as one-event batches of append_to_stream, r2000 a
2,000-event stream in one read_stream call, page one read_all page of 1,000 events.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

from pgeventstore import schema
from pgeventstore.calls import EVENT_COLUMNS
from pgeventstore.cluster import Cluster, temporary_cluster
from pgeventstore_bench.statements import EVENT_TYPE, FLOOR_SCHEMA_SQL, HAND_SCHEMA_SQL, PAYLOAD_JSON

PAYLOAD = PAYLOAD_JSON.replace("'", "''")
APPEND_EVENT = (
    "prepare s(text, bigint, text, jsonb, jsonb, uuid) as select stream_version, first_position, "
    "last_position from eventstore.append_event($1, $2, $3, $4, $5, $6)"
)
APPEND_BATCH = (
    "prepare s(text, bigint, jsonb) as select stream_version, first_position, last_position "
    "from eventstore.append_to_stream($1, $2, $3)"
)
# The same call with the result row as one composite value, its fields selected outside
# (OFFSET 0 keeps the subquery, so the function runs once): no function scan, no tuplestore.
APPEND_EVENT_COMPOSITE = (
    "prepare s(text, bigint, text, jsonb, jsonb, uuid) as select (r).stream_version, (r).first_position, "
    "(r).last_position from (select eventstore.append_event($1, $2, $3, $4, $5, $6) as r offset 0) c"
)
READ_STREAM = f"prepare s(text) as select {EVENT_COLUMNS} from eventstore.read_stream($1, 0, 2000, false)"
READ_ALL = f"prepare s(bigint) as select {EVENT_COLUMNS}, log_number from eventstore.read_all($1, 1000)"


def insert(schema_name: str) -> str:
    """A floor's one-event INSERT as a prepared statement."""
    return (
        f"prepare s(text, bigint, text, jsonb) as insert into {schema_name}.events "
        "(stream_id, version, event_id, event_type, data) values ($1, $2, gen_random_uuid(), $3, $4) "
        "returning global_position"
    )


def floor_read_stream(schema_name: str) -> str:
    """A floor's read of a whole 2,000-event stream as a prepared statement."""
    return (
        f"prepare s(text) as select {EVENT_COLUMNS} from {schema_name}.events "
        "where stream_id = $1 and version >= 0 order by version limit 2000"
    )


FLOOR_PAGE = (
    f"prepare s(xid8, bigint) as select {EVENT_COLUMNS}, transaction_id::text as c from bench_floor.events "
    "where (transaction_id, global_position) > ($1, $2) order by transaction_id, global_position limit 1000"
)
HAND_PAGE = (
    f"prepare s(bigint) as select {EVENT_COLUMNS}, global_position as c from bench_hand.events "
    "where global_position > $1 order by global_position limit 1000"
)


@dataclasses.dataclass(frozen=True)
class Workload:
    """One side of one workload: a prepared statement and the i-th call of it (``tag`` keeps runs apart)."""

    name: str
    side: str
    table: str
    prepare: str
    call: Callable[[str, int], str]
    setup: Callable[[str], list[str]] = lambda tag: []
    writes: bool = True
    new_streams: bool = False


def _event(stream: str, version: int) -> str:
    return f"'{stream}', {version}, '{EVENT_TYPE}', '{PAYLOAD}'"


def _batch() -> str:
    events = [{"type": EVENT_TYPE, "data": json.loads(PAYLOAD_JSON)}]
    return "'" + json.dumps(events).replace("'", "''") + "'"


def _floor_row(schema_name: str, stream: str) -> str:
    return (
        f"insert into {schema_name}.events (stream_id, version, event_id, event_type, data) "
        f"values ('{stream}', 0, gen_random_uuid(), '{EVENT_TYPE}', '{PAYLOAD}')"
    )


def _store_row(stream: str) -> str:
    return f"select * from eventstore.append_event({_event(stream, -1)})"


def workloads() -> list[Workload]:
    """Every side of every workload, in the order printed."""
    floors = (("floor", "bench_floor"), ("hand", "bench_hand"))
    found = [
        Workload(
            "w1",
            "store",
            "eventstore.events",
            APPEND_EVENT,
            lambda tag, i: f"execute s({_event(f'w1{tag}-{i}', -1)}, null, null)",
            new_streams=True,
        ),
        Workload(
            "w1",
            "store-c",
            "eventstore.events",
            APPEND_EVENT_COMPOSITE,
            lambda tag, i: f"execute s({_event(f'w1c{tag}-{i}', -1)}, null, null)",
            new_streams=True,
        ),
        *(
            Workload(
                "w1",
                side,
                f"{name}.events",
                insert(name),
                lambda tag, i: f"execute s({_event(f'w1{tag}-{i}', 0)})",
                new_streams=True,
            )
            for side, name in floors
        ),
        Workload(
            "w1b",
            "store",
            "eventstore.events",
            APPEND_BATCH,
            lambda tag, i: f"execute s('w1b{tag}-{i}', -1, {_batch()})",
            new_streams=True,
        ),
        Workload(
            "w2",
            "store",
            "eventstore.events",
            APPEND_EVENT,
            lambda tag, i: f"execute s({_event(f'w2{tag}', i)}, null, null)",
            lambda tag: [_store_row(f"w2{tag}")],
        ),
        Workload(
            "w2",
            "store-c",
            "eventstore.events",
            APPEND_EVENT_COMPOSITE,
            lambda tag, i: f"execute s({_event(f'w2c{tag}', i)}, null, null)",
            lambda tag: [_store_row(f"w2c{tag}")],
        ),
        *(
            Workload(
                "w2",
                side,
                f"{name}.events",
                insert(name),
                lambda tag, i: f"execute s({_event(f'w2{tag}', i + 1)})",
                lambda tag, name=name: [_floor_row(name, f"w2{tag}")],  # type: ignore[misc]
            )
            for side, name in floors
        ),
        Workload(
            "w2b",
            "store",
            "eventstore.events",
            APPEND_BATCH,
            lambda tag, i: f"execute s('w2b{tag}', {i}, {_batch()})",
            lambda tag: [_store_row(f"w2b{tag}")],
        ),
        Workload("r2000", "store", "", READ_STREAM, lambda tag, i: "execute s('r2000')", writes=False),
        *(
            Workload(
                "r2000", side, "", floor_read_stream(name), lambda tag, i: "execute s('r2000')", writes=False
            )
            for side, name in floors
        ),
        Workload("page", "store", "", READ_ALL, lambda tag, i: "execute s(0)", writes=False),
        Workload("page", "floor", "", FLOOR_PAGE, lambda tag, i: "execute s('0', 0)", writes=False),
        Workload("page", "hand", "", HAND_PAGE, lambda tag, i: "execute s(0)", writes=False),
    ]
    return found


# The read workloads' data: a 2,000-event stream and 5,000 more events, numbered, in the
# store and copied into both floors.
BATCH_OF = (
    "(select jsonb_agg(jsonb_build_object('type', %(type)s::text, 'data', %(data)s::jsonb)) "
    "from generate_series(1, %(size)s))"
)
READ_FILL = [
    f"select eventstore.append_to_stream('r2000', -1, {BATCH_OF})",
    f"select eventstore.append_to_stream('r2000', 999, {BATCH_OF})",
    f"select eventstore.append_to_stream('fill-' || g, -1, {BATCH_OF}) from generate_series(1, 50) g",
]
COPY_TO_FLOORS = [
    "insert into bench_floor.events overriding system value select * from eventstore.events",
    "insert into bench_hand.events (global_position, stream_id, version, event_id, event_type, data, "
    "metadata, recorded_at) overriding system value select global_position, stream_id, version, event_id, "
    "event_type, data, metadata, recorded_at from eventstore.events order by global_position",
    *(
        f"select setval(pg_get_serial_sequence('{name}.events', 'global_position'), "
        "(select max(global_position) from eventstore.events))"
        for name in ("bench_floor", "bench_hand")
    ),
]


def index_entries(conn: psycopg.Connection[Any], table: str, new_stream: bool) -> int:
    """How many index entries one inserted event writes into ``table``'s indexes."""
    rows = conn.execute(
        "select pg_get_expr(i.indpred, i.indrelid) from pg_index i where i.indrelid = %s::regclass",
        (table,),
    ).fetchall()
    count = 0
    for (predicate,) in rows:
        if predicate is None or (predicate == "(version = 0)" and new_stream):
            count += 1
        # The workloads' events carry no metadata, so no personal-data index holds them.
        elif predicate not in ("(version = 0)", "(metadata ? '$subject'::text)"):
            raise RuntimeError(f"{table}: a partial index this script cannot judge: {predicate}")
    return count


def wal_bytes(conn: psycopg.Connection[Any], work: Workload, calls: int) -> float:
    """WAL bytes per call of ``work``, after five calls that plan and warm up."""
    tag = "wal"
    for statement in work.setup(tag):
        conn.execute(statement)
    conn.execute(work.prepare)
    for i in range(5):
        conn.execute(work.call(tag, i))
    before = conn.execute("select pg_current_wal_insert_lsn()").fetchone()[0]  # type: ignore[index]
    for i in range(5, 5 + calls):
        conn.execute(work.call(tag, i))
    after = conn.execute("select pg_current_wal_insert_lsn()").fetchone()[0]  # type: ignore[index]
    conn.execute("deallocate s")
    delta = conn.execute("select %s::pg_lsn - %s::pg_lsn", (after, before)).fetchone()[0]  # type: ignore[index]
    return float(delta) / calls


def numbering_wal(conn: psycopg.Connection[Any], calls: int) -> float:
    """WAL bytes per event of numbering ``calls`` freshly appended events."""
    conn.execute("select eventstore.number_log(100000)")
    batch = _batch().strip("'").replace("''", "'")
    for i in range(calls):
        conn.execute("select eventstore.append_to_stream(%s, -1, %s::jsonb)", (f"numbered-{i}", batch))
    before = conn.execute("select pg_current_wal_insert_lsn()").fetchone()[0]  # type: ignore[index]
    numbered = conn.execute("select eventstore.number_log(100000)").fetchone()[0]  # type: ignore[index]
    after = conn.execute("select pg_current_wal_insert_lsn()").fetchone()[0]  # type: ignore[index]
    delta = conn.execute("select %s::pg_lsn - %s::pg_lsn", (after, before)).fetchone()[0]  # type: ignore[index]
    return float(delta) / numbered


def single_user_instructions(cluster: Cluster, work: Workload, calls: int, run: int) -> int:
    """Instructions in PortalRun of a single-user backend running ``calls`` calls of ``work``."""
    tag = f"c{run}"
    lines = [*work.setup(tag), work.prepare, *(work.call(tag, i) for i in range(calls))]
    with tempfile.TemporaryDirectory() as folder:
        os.chmod(folder, 0o777)
        script = Path(folder) / "in.sql"
        script.write_text("\n".join(lines) + "\n", encoding="utf-8")
        out = Path(folder) / "callgrind.out"
        command = [
            "valgrind",
            "--tool=callgrind",
            "--toggle-collect=PortalRun",
            f"--callgrind-out-file={out}",
            str(cluster._server_bindir() / "postgres"),
            "--single",
            "-D",
            str(cluster.data_dir),
            "postgres",
        ]
        user = cluster._user  # the server's account: the data folder is its own
        if user is not None:
            command = ["runuser", "-u", user.pw_name, "--", *command]
        with script.open("rb") as stdin:
            subprocess.run(
                command, stdin=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True
            )
        for line in out.read_text(encoding="utf-8").splitlines():
            if line.startswith(("summary:", "totals:")):
                return int(line.split()[1])
    raise RuntimeError("callgrind wrote no total")


def main() -> None:
    """Set up the cluster, measure every workload's side and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--design", action="append", default=[], help="SQL file applied after the migrations")
    parser.add_argument("--calls", type=int, default=200, help="calls per measure")
    parser.add_argument("--no-callgrind", action="store_true", help="only the index entries and the WAL")
    parser.add_argument("--only", default="", help="comma-separated workload names")
    args = parser.parse_args()
    chosen = [w for w in workloads() if not args.only or w.name in args.only.split(",")]
    with temporary_cluster() as cluster:
        dsn = cluster.dsn()
        schema.migrate(dsn)
        with psycopg.connect(dsn, autocommit=True) as conn:
            for design in args.design:
                conn.execute(Path(design).read_text(encoding="utf-8"))  # type: ignore[arg-type]
            conn.execute(FLOOR_SCHEMA_SQL)
            conn.execute(HAND_SCHEMA_SQL)
            for statement, size in zip(READ_FILL, (1000, 1000, 100), strict=True):
                conn.execute(statement, {"type": EVENT_TYPE, "data": PAYLOAD_JSON, "size": size})
            conn.execute("select eventstore.number_log(100000)")
            for statement in COPY_TO_FLOORS:
                conn.execute(statement)
            conn.execute("vacuum analyze")
            results: dict[tuple[str, str], dict[str, float]] = {}
            for work in chosen:
                figures: dict[str, float] = {}
                if work.writes:
                    figures["index entries"] = index_entries(conn, work.table, work.new_streams)
                    figures["WAL bytes"] = wal_bytes(conn, work, args.calls)
                results[(work.name, work.side)] = figures
            numbering = numbering_wal(conn, args.calls)
        if not args.no_callgrind:
            cluster.stop()
            for run, work in enumerate(chosen):
                # A read returns thousands of rows per call: fewer calls measure it as well.
                warm, calls = (20, args.calls) if work.writes else (2, max(2, args.calls // 20))
                few = single_user_instructions(cluster, work, warm, 2 * run)
                many = single_user_instructions(cluster, work, warm + calls, 2 * run + 1)
                results[(work.name, work.side)]["instructions"] = (many - few) / calls
            cluster.start()
    print(f"designs: {', '.join(args.design) or 'none (as installed)'}; {args.calls} calls per measure")
    print(f"numbering (number_log): {numbering:,.0f} WAL bytes per event")
    print(f"{'workload':8s} {'side':7s} {'index entries':>13s} {'WAL bytes':>10s} {'instructions':>13s}")
    for (name, side), figures in results.items():
        entries, wal = figures.get("index entries", float("nan")), figures.get("WAL bytes", float("nan"))
        instructions = figures.get("instructions", float("nan"))
        print(f"{name:8s} {side:7s} {entries:13.0f} {wal:10.0f} {instructions:13,.0f}")


if __name__ == "__main__":
    main()
