"""Measure what personal data costs appends and reads: plain events against encrypted ones.

Usage: .venv/bin/python scripts/measure_personal_data.py [--dsn DSN] [--events 2000]
                                                          [--rounds 3] [--durable]
Without --dsn it starts a throwaway cluster (pgeventstore.cluster; fsync and
synchronous_commit off as in the tests, or the server's durable defaults with --durable).
One session, one event per transaction, the same data in every variant:
  sql     a plain INSERT of the data and metadata into a table of two jsonb columns,
          and a plain SELECT of a stream's rows from eventstore.events (the floor);
  plain   append_event / read_stream with metadata that names no subject;
  fields  metadata {"$subject": ..., "$personal": ["name", "email"]}: two fields encrypted;
  whole   metadata {"$subject": ...}: the whole data encrypted.
Each round appends --events events per variant (to 50 streams of 50 subjects, in turn),
then reads every stream of each variant back; the variants alternate within a round. The
output: the median events per second of each variant and its ratio to sql and to plain.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import time
from collections.abc import Callable, Iterator

import psycopg

from pgeventstore import schema
from pgeventstore.cluster import temporary_cluster

STREAMS = 50
DATA = {"name": "Ada Lovelace", "email": "ada@example.com", "plan": "gold", "n": 0}
METADATA: dict[str, Callable[[int], dict[str, object]]] = {
    "plain": lambda s: {"trace": f"t-{s}"},
    "fields": lambda s: {"$subject": f"subject-{s}", "$personal": ["name", "email"]},
    "whole": lambda s: {"$subject": f"whole-{s}"},
}
APPEND = "select eventstore.append_event(%s, %s, 'Measured', %s::jsonb, %s::jsonb)"
INSERT = "insert into measure_sql (data, metadata) values (%s::jsonb, %s::jsonb)"
READ = "select data, metadata from eventstore.read_stream(%s, 0, 100000)"
SELECT = "select data, metadata from eventstore.events where stream_id = %s order by version"


@contextlib.contextmanager
def database(dsn: str | None, durable: bool) -> Iterator[str]:
    """The DSN to measure on: the given one, or a throwaway cluster's (store installed)."""
    if dsn:
        yield dsn
        return
    with temporary_cluster(settings={} if durable else None) as cluster:
        schema.migrate(cluster.dsn())
        yield cluster.dsn()


def appends(conn: psycopg.Connection[tuple[object, ...]], variant: str, events: int, round_no: int) -> float:
    """Events appended per second, one per transaction."""
    began = time.perf_counter()
    for n in range(events):
        s = n % STREAMS
        data = json.dumps({**DATA, "n": n})
        if variant == "sql":
            conn.execute(INSERT, (data, json.dumps(METADATA["plain"](s))))
        else:
            version = round_no * (events // STREAMS) + n // STREAMS - 1
            conn.execute(APPEND, (f"measure_{variant}-{s}", version, data, json.dumps(METADATA[variant](s))))
    return events / (time.perf_counter() - began)


def reads(conn: psycopg.Connection[tuple[object, ...]], variant: str) -> float:
    """Events read per second, a whole stream per call (read_stream, or a plain SELECT for sql)."""
    count = 0
    began = time.perf_counter()
    for s in range(STREAMS):
        query, stream = (
            (SELECT, f"measure_plain-{s}") if variant == "sql" else (READ, f"measure_{variant}-{s}")
        )
        count += len(conn.execute(query, (stream,)).fetchall())
    return count / (time.perf_counter() - began)


def main() -> None:
    """Run the rounds and print the medians and ratios."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dsn")
    parser.add_argument("--events", type=int, default=2000, help="events per variant and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--durable", action="store_true")
    args = parser.parse_args()
    if args.events % STREAMS:
        parser.error(f"--events must be a multiple of {STREAMS}")
    variants = ["sql", "plain", "fields", "whole"]
    results: dict[str, dict[str, list[float]]] = {
        "append": {v: [] for v in variants},
        "read": {v: [] for v in variants},
    }
    with database(args.dsn, args.durable) as dsn, psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "create table measure_sql "
            "(id bigint generated always as identity primary key, data jsonb, metadata jsonb)"
        )
        for round_no in range(args.rounds):
            order = variants[round_no % len(variants) :] + variants[: round_no % len(variants)]
            for variant in order:
                results["append"][variant].append(appends(conn, variant, args.events, round_no))
            for variant in order:
                results["read"][variant].append(reads(conn, variant))
        conn.execute("drop table measure_sql")
    for kind, by_variant in results.items():
        medians = {v: statistics.median(rates) for v, rates in by_variant.items()}
        print(f"{kind}: events/s (median of {args.rounds} rounds), ratio to sql, ratio to plain")
        for variant, rate in medians.items():
            print(
                f"  {variant:7} {rate:10,.0f}  {rate / medians['sql']:6.3f}  {rate / medians['plain']:6.3f}"
            )


if __name__ == "__main__":
    main()
