"""Measure the eventsourcing library's own PostgreSQL recorder against pgeventstore.eventsourcing.

Usage: .venv/bin/python scripts/bench_eventsourcing.py [--seconds 5] [--read-events 20000]

Starts one throwaway cluster with the server's durable defaults (fsync and
synchronous_commit on) and, in the same run, on three databases of it:

* plain SQL: one INSERT of one row into a plain table per transaction, the floor;
* eventsourcing.postgres: the library's PostgresApplicationRecorder;
* pgeventstore.eventsourcing: this store's application recorder.

For each, inserts per second of ``insert_events`` with one new aggregate's first event per
call, from 1 and from 8 threads for --seconds each; then notification reads: events per
second of a reader paging through --read-events notifications 500 at a time
(``select_notifications(start, 500, inclusive_of_start=False)``; plain SQL: a keyset
SELECT of 500 rows), after an ANALYZE of the database. Prints a Markdown table with each
figure's ratio to plain SQL.
"""

from __future__ import annotations

import argparse
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


def recorder_reads(recorder: ApplicationRecorder, events: int, dsn: str) -> float:
    """Notifications per second of one reader paging through the first ``events``."""
    while (recorder.max_notification_id() or 0) < events:
        batch = [
            StoredEvent(originator_id=uuid.uuid4(), originator_version=1, topic="bench:Created", state=b"{}")
            for _ in range(PAGE)
        ]
        recorder.insert_events(batch)
    analyze(dsn)
    started = time.monotonic()
    read, last = 0, 0
    while read < events:
        page = recorder.select_notifications(last, PAGE, inclusive_of_start=False)
        read += len(page)
        last = page[-1].id
    return read / (time.monotonic() - started)


def plain_sql(dsn: str, seconds: float, events: int) -> dict[str, float]:
    """The floor: one-row INSERT transactions and keyset page reads of a plain table."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("create table plain (id bigint generated always as identity primary key, state bytea)")

    def make_call() -> Callable[[], None]:
        conn = psycopg.connect(dsn, autocommit=True)
        return lambda: conn.execute("insert into plain (state) values ('{}')").close()

    results = {f"inserts/s, {n} thread{'s' if n > 1 else ''}": rate(n, seconds, make_call) for n in THREADS}
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("insert into plain (state) select '{}' from generate_series(1, %s)", (events,))
        conn.execute("analyze plain")
        started = time.monotonic()
        read, last = 0, 0
        while read < events:
            rows = conn.execute(
                "select id, state from plain where id > %s order by id limit %s", (last, PAGE)
            ).fetchall()
            read += len(rows)
            last = rows[-1][0]
        results["notifications read/s"] = read / (time.monotonic() - started)
    return results


def library_recorder(env: Environment, dsn: str, seconds: float, events: int) -> dict[str, float]:
    """The figures of the application recorder the settings select."""
    factory: InfrastructureFactory[Any] = InfrastructureFactory.construct(env)
    try:
        recorder = factory.application_recorder()
        results = {
            f"inserts/s, {n} thread{'s' if n > 1 else ''}": rate(n, seconds, recorder_inserts(recorder))
            for n in THREADS
        }
        results["notifications read/s"] = recorder_reads(recorder, events, dsn)
        return results
    finally:
        factory.close()


def main() -> None:
    """Run the three measurements on one durable cluster and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--read-events", type=int, default=20_000)
    args = parser.parse_args()
    with temporary_cluster(settings={}) as cluster:
        plain = plain_sql(create_database(cluster, "plain"), args.seconds, args.read_events)
        native_dsn = create_database(cluster, "native")
        native_env = factory_env(cluster, native_dsn, "eventsourcing.postgres")
        native = library_recorder(native_env, native_dsn, args.seconds, args.read_events)
        store_dsn = create_database(cluster, "store")
        schema.migrate(store_dsn)
        store_env = factory_env(cluster, store_dsn, "pgeventstore.eventsourcing")
        store = library_recorder(store_env, store_dsn, args.seconds, args.read_events)
    print("| measure | plain SQL | eventsourcing.postgres | pgeventstore.eventsourcing | store / library |")
    print("|---|---:|---:|---:|---:|")
    for name, floor in plain.items():
        print(
            f"| {name} | {floor:,.0f} | {native[name]:,.0f} ({native[name] / floor:.2f}x) "
            f"| {store[name]:,.0f} ({store[name] / floor:.2f}x) | {store[name] / native[name]:.2f}x |"
        )


if __name__ == "__main__":
    main()
