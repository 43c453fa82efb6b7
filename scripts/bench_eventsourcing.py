"""Measure the eventsourcing library's own PostgreSQL recorder against pgeventstore.eventsourcing.

Usage: .venv/bin/python scripts/bench_eventsourcing.py [--seconds 3] [--rounds 3] [--read-events 20000]

Starts one throwaway cluster with the server's durable defaults (fsync and
synchronous_commit on) and, in the same run, on three databases of it:

* plain SQL: one INSERT of one row into a plain table per transaction, the floor;
* eventsourcing.postgres: the library's PostgresApplicationRecorder;
* pgeventstore.eventsourcing: this store's application recorder.

For each, inserts per second of ``insert_events`` with one new aggregate's first event per
call, from 1 and from 8 threads for --seconds each, and notification reads: events per
second of a reader paging through the first --read-events notifications 500 at a time
(``select_notifications(start, 500, inclusive_of_start=False)``; plain SQL: a keyset
SELECT of 500 rows), after an ANALYZE of the database. The three are measured in
alternation, --rounds times, so that a load that comes and goes falls on all of them.
Prints a Markdown table of the medians, with each one's ratio to plain SQL.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import psycopg
from eventsourcing.persistence import ApplicationRecorder, InfrastructureFactory, StoredEvent
from eventsourcing.utils import Environment
from psycopg.conninfo import conninfo_to_dict

from pgeventstore import schema
from pgeventstore.cluster import Cluster, temporary_cluster

THREADS = (1, 8)
PAGE = 500


def rate(threads: int, seconds: float, make_call: Callable[[], Callable[[], None]]) -> float:
    """Calls per second of ``threads`` threads, each repeating its own call for ``seconds``."""
    counts = [0] * threads
    barrier = threading.Barrier(threads + 1)

    def run(index: int) -> None:
        call = make_call()
        barrier.wait()
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            call()
            counts[index] += 1

    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    barrier.wait()
    began = time.monotonic()
    for worker in workers:
        worker.join()
    return sum(counts) / (time.monotonic() - began)


def create_database(cluster: Cluster, name: str) -> str:
    """A new database of the cluster; its superuser DSN."""
    with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    return cluster.dsn(name)


def factory_env(cluster: Cluster, dsn: str, module: str) -> Environment:
    """The library's settings for the database of ``dsn``, with the superuser's password."""
    password = cluster.passfile.read_text(encoding="utf-8").strip().rsplit(":", 1)[1]
    params = conninfo_to_dict(dsn)
    return Environment(
        "Bench",
        {
            "PERSISTENCE_MODULE": module,
            "POSTGRES_DBNAME": str(params["dbname"]),
            "POSTGRES_HOST": str(params["host"]),
            "POSTGRES_PORT": str(params["port"]),
            "POSTGRES_USER": str(params["user"]),
            "POSTGRES_PASSWORD": password,
            "POSTGRES_POOL_SIZE": "10",
        },
    )


def recorder_inserts(recorder: ApplicationRecorder) -> Callable[[], Callable[[], None]]:
    """Each call inserts a new aggregate's first event."""

    def make_call() -> Callable[[], None]:
        def call() -> None:
            recorder.insert_events(
                [
                    StoredEvent(
                        originator_id=uuid.uuid4(), originator_version=1, topic="bench:Created", state=b"{}"
                    )
                ]
            )

        return call

    return make_call


def analyze(dsn: str) -> None:
    """Give the planner the tables' statistics, as autovacuum does soon after a bulk load."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("analyze")


def page_through(read_page: Callable[[int], list[int]], events: int) -> float:
    """Items per second of reading ``events`` items page by page; ``read_page(after)`` gives ids."""
    started = time.monotonic()
    read, last = 0, 0
    while read < events:
        ids = read_page(last)
        read += len(ids)
        last = ids[-1]
    return read / (time.monotonic() - started)


@dataclasses.dataclass
class Subject:
    """One system measured: how a thread inserts, and how a reader reads a page."""

    name: str
    make_insert: Callable[[], Callable[[], None]]
    read_page: Callable[[int], list[int]]
    close: Callable[[], None]


def plain_sql(dsn: str, events: int) -> Subject:
    """The floor: one-row INSERT transactions and keyset page reads of a plain table."""
    reader = psycopg.connect(dsn, autocommit=True)
    reader.execute("create table plain (id bigint generated always as identity primary key, state bytea)")
    reader.execute("insert into plain (state) select '{}' from generate_series(1, %s)", (events,))
    analyze(dsn)

    def make_insert() -> Callable[[], None]:
        conn = psycopg.connect(dsn, autocommit=True)
        return lambda: conn.execute("insert into plain (state) values ('{}')").close()

    def read_page(after: int) -> list[int]:
        rows = reader.execute("select id, state from plain where id > %s order by id limit %s", (after, PAGE))
        return [row[0] for row in rows.fetchall()]

    return Subject("plain SQL", make_insert, read_page, reader.close)


def library_recorder(env: Environment, dsn: str, events: int) -> Subject:
    """The application recorder the settings select, with ``events`` notifications stored."""
    factory: InfrastructureFactory[Any] = InfrastructureFactory.construct(env)
    recorder = factory.application_recorder()
    while (recorder.max_notification_id() or 0) < events:
        batch = [
            StoredEvent(originator_id=uuid.uuid4(), originator_version=1, topic="bench:Created", state=b"{}")
            for _ in range(PAGE)
        ]
        recorder.insert_events(batch)
    analyze(dsn)

    def read_page(after: int) -> list[int]:
        return [n.id for n in recorder.select_notifications(after, PAGE, inclusive_of_start=False)]

    return Subject(str(env["PERSISTENCE_MODULE"]), recorder_inserts(recorder), read_page, factory.close)


def main() -> None:
    """Measure the three systems in alternation, --rounds times, and print the medians."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--read-events", type=int, default=20_000)
    args = parser.parse_args()
    with temporary_cluster(settings={}) as cluster:
        native_dsn = create_database(cluster, "native")
        store_dsn = create_database(cluster, "store")
        schema.migrate(store_dsn)
        subjects = [
            plain_sql(create_database(cluster, "plain"), args.read_events),
            library_recorder(
                factory_env(cluster, native_dsn, "eventsourcing.postgres"), native_dsn, args.read_events
            ),
            library_recorder(
                factory_env(cluster, store_dsn, "pgeventstore.eventsourcing"), store_dsn, args.read_events
            ),
        ]
        figures: dict[str, dict[str, list[float]]] = {}
        try:
            for _ in range(args.rounds):
                for subject in subjects:
                    measured = figures.setdefault(subject.name, {})
                    for n in THREADS:
                        name = f"inserts/s, {n} thread{'s' if n > 1 else ''}"
                        measured.setdefault(name, []).append(rate(n, args.seconds, subject.make_insert))
                    measured.setdefault("notifications read/s", []).append(
                        page_through(subject.read_page, args.read_events)
                    )
        finally:
            for subject in subjects:
                subject.close()
    plain, native, store = (
        {name: statistics.median(values) for name, values in figures[subject.name].items()}
        for subject in subjects
    )
    print(f"Medians of {args.rounds} rounds of {args.seconds:g} s per insert figure.")
    print("| measure | plain SQL | eventsourcing.postgres | pgeventstore.eventsourcing | store / library |")
    print("|---|---:|---:|---:|---:|")
    for name, floor in plain.items():
        print(
            f"| {name} | {floor:,.0f} | {native[name]:,.0f} ({native[name] / floor:.2f}x) "
            f"| {store[name]:,.0f} ({store[name] / floor:.2f}x) | {store[name] / native[name]:.2f}x |"
        )


if __name__ == "__main__":
    main()
