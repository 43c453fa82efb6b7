"""Measure this checkout's one-event appends against an earlier commit's, in one run.

Usage: .venv/bin/python scripts/measure_against_release.py (--durable | --fast)
       [--commit 9b44472] [--calls 4000] [--rounds 10]

docs/performance.md records, each round, an append's ratio to the same-indexes floor: a
copy of the store's table *as it is then*. When the store drops an index, its floor drops
it too, so a store that got faster can show a lower ratio. This script puts both in one
cluster, so that neither the machine nor the floor's definition differs between them:

* database ``release``: the store as of ``--commit`` (its migrations, applied by that
  commit's own ``pgeventstore.schema.migrate``; default 9b44472, round 5 of
  docs/performance.md, the last before log numbers), and its same-indexes floor;
* database ``current``: this checkout's store, its same-indexes floor and the benchmark's
  hand-made table (``pgeventstore_bench.statements``).

Workloads: w1, one event per call to a new stream; w2, one event per call to one stream
with the exact expected version. Each variant has a connection of its own; each round runs
every variant's calls in turn (after 5 calls not counted), the order reversed every other
round. The release is called as its client called it (``select * from
eventstore.append_event(...)``, four arguments), this checkout as its client calls it
(``calls.APPEND_EVENT_SQL``).

It prints each variant's medians over the rounds of the server's CPU per call (from
``/proc/PID/schedstat`` of its backend: the client's time and the wait for the WAL flush
are not in it) and of the wall time per call, then ratios of rates (a variant's rate over
its floor's), the median over the rounds of the paired ratios.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import itertools
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg

from pgeventstore import schema
from pgeventstore.calls import APPEND_EVENT_SQL
from pgeventstore.cluster import FAST_SETTINGS, temporary_cluster
from pgeventstore_bench.statements import (
    EVENT_TYPE,
    FLOOR,
    FLOOR_SCHEMA_SQL,
    HAND,
    HAND_SCHEMA_SQL,
    PAYLOAD_JSON,
    insert_sql,
)

ROOT = Path(__file__).resolve().parent.parent
RELEASE_SQL = "select * from eventstore.append_event(%s, %s, %s, %s::jsonb)"
Conn = psycopg.Connection[Any]


@contextlib.contextmanager
def release_source(commit: str) -> Iterator[Path]:
    """The files of ``commit`` in a temporary folder."""
    with tempfile.TemporaryDirectory(prefix="pgeventstore-release-") as folder:
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", "--format=tar", commit, "py", "sql", "migrations"],
            capture_output=True,
            check=True,
        ).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(folder, filter="data")
        yield Path(folder)


def migrate_with(source: Path, dsn: str) -> None:
    """Install the store of ``source`` (a checkout's files) with its own migrate."""
    subprocess.run(
        [sys.executable, "-c", f"from pgeventstore import schema; schema.migrate({dsn!r})"],
        check=True,
        env=dict(os.environ, PYTHONPATH=str(source / "py")),
        cwd=source,
    )


def backend_cpu_ns(pid: int) -> int:
    """The CPU time a server process has used, in nanoseconds."""
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0])


class Variant:
    """One side of one workload: a connection and one call of it."""

    def __init__(self, conn: Conn, call: Callable[[Conn], None]) -> None:
        self.conn = conn
        self.call = call
        row = conn.execute("select pg_backend_pid()").fetchone()
        assert row is not None
        self.pid: int = row[0]
        self.cpu: list[float] = []
        self.wall: list[float] = []

    def measure(self, calls: int) -> None:
        """Run ``calls`` calls (after 5 not counted); record their CPU and wall time per call."""
        for _ in range(5):
            self.call(self.conn)
        cpu, wall = backend_cpu_ns(self.pid), time.perf_counter()
        for _ in range(calls):
            self.call(self.conn)
        self.wall.append((time.perf_counter() - wall) / calls * 1e6)
        self.cpu.append((backend_cpu_ns(self.pid) - cpu) / calls / 1000)


def variants(dsns: dict[str, str], workload: str) -> dict[str, Variant]:
    """The variants of w1 or w2."""
    numbers = itertools.count()
    versions: dict[str, int] = {}

    def target(key: str) -> tuple[str, int]:
        if workload == "w1":
            return f"{workload}{key}-{next(numbers)}", -1
        version = versions.get(key, -1)
        versions[key] = version + 1
        return f"{workload}{key}", version

    def store(key: str, *, release: bool) -> Callable[[Conn], None]:
        def call(conn: Conn) -> None:
            stream_id, expected = target(key)
            if release:
                conn.execute(RELEASE_SQL, (stream_id, expected, EVENT_TYPE, PAYLOAD_JSON)).fetchone()
            else:
                row = (stream_id, expected, EVENT_TYPE, PAYLOAD_JSON, None, None)
                conn.execute(APPEND_EVENT_SQL, row).fetchone()

        return call

    def floor(schema_name: str, key: str) -> Callable[[Conn], None]:
        def call(conn: Conn) -> None:
            stream_id, expected = target(key)
            conn.execute(
                insert_sql(schema_name), (stream_id, expected + 1, EVENT_TYPE, PAYLOAD_JSON)
            ).fetchone()

        return call

    def connect(database: str) -> Conn:
        return psycopg.connect(dsns[database], autocommit=True)

    return {
        "release append_event": Variant(connect("release"), store("r", release=True)),
        "release floor": Variant(connect("release"), floor(FLOOR, "rf")),
        "current append_event": Variant(connect("current"), store("c", release=False)),
        "current floor": Variant(connect("current"), floor(FLOOR, "f")),
        "hand-made": Variant(connect("current"), floor(HAND, "h")),
    }


RATIOS = (
    ("release append_event", "release floor"),
    ("current append_event", "current floor"),
    ("release append_event", "hand-made"),
    ("current append_event", "hand-made"),
    ("current append_event", "release append_event"),
)


def paired_ratio(variant: list[float], base: list[float]) -> float:
    """The median over rounds of base time / variant time: the variant's rate over the base's."""
    return statistics.median(b / v for v, b in zip(variant, base, strict=True))


def main() -> None:
    """Parse the arguments, start the cluster, measure and print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--durable", action="store_true", help="the server's durable defaults")
    mode.add_argument("--fast", action="store_true", help="fsync, synchronous_commit, full_page_writes off")
    parser.add_argument("--commit", default="9b44472", help="the earlier commit (default: round 5)")
    parser.add_argument("--calls", type=int, default=4000, help="calls per variant and workload")
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()

    settings = {} if args.durable else dict(FAST_SETTINGS)
    with release_source(args.commit) as source, temporary_cluster(settings) as cluster:
        with psycopg.connect(cluster.dsn(), autocommit=True) as admin:
            admin.execute("create database release")
            admin.execute("create database current")
        migrate_with(source, cluster.dsn("release"))
        schema.migrate(cluster.dsn("current"))
        with psycopg.connect(cluster.dsn("release"), autocommit=True) as conn:
            conn.execute(FLOOR_SCHEMA_SQL)
        with psycopg.connect(cluster.dsn("current"), autocommit=True) as conn:
            conn.execute(FLOOR_SCHEMA_SQL)
            conn.execute(HAND_SCHEMA_SQL)
        dsns = {name: cluster.dsn(name) for name in ("release", "current")}
        print(
            f"{'durable' if args.durable else 'fsync off'}: {args.commit} (release) against this checkout "
            f"(current), {args.calls} calls per variant in {args.rounds} rounds; medians over the rounds"
        )
        for workload in ("w1", "w2"):
            sides = variants(dsns, workload)
            per_round = max(1, args.calls // args.rounds)
            for turn in range(args.rounds):
                order = list(sides.values())
                for variant in order if turn % 2 == 0 else order[::-1]:
                    variant.measure(per_round)
            print(f"\n{workload}: {'new streams' if workload == 'w1' else 'one stream, exact version'}")
            print(f"{'variant':32} {'server CPU us/call':>19} {'wall us/call':>13}")
            for name, variant in sides.items():
                cpu, wall = statistics.median(variant.cpu), statistics.median(variant.wall)
                print(f"{name:32} {cpu:19.1f} {wall:13.1f}")
            print(f"{'ratio (rate over rate)':58} {'server CPU':>10} {'wall':>6}")
            for name, base in RATIOS:
                variant, against = sides[name], sides[base]
                label = f"{name} / {base}"
                print(
                    f"{label:58} {paired_ratio(variant.cpu, against.cpu):10.3f} "
                    f"{paired_ratio(variant.wall, against.wall):6.3f}"
                )
            for variant in sides.values():
                variant.conn.close()


if __name__ == "__main__":
    main()
