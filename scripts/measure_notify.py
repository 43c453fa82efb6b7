"""Measure what NOTIFY costs appends: throughput with eventstore.notify off and on.

Usage: .venv/bin/python scripts/measure_notify.py [--dsn DSN] [--writers 4] [--seconds 5]
                                                   [--rounds 3] [--durable]
Without --dsn it starts a throwaway cluster (pgeventstore.cluster; fsync and
synchronous_commit off as in the tests, or the server's durable defaults with --durable).
Each writer appends one-event transactions to its own stream for --seconds, with the
setting off, then on, --rounds times; the output is appends per second per round and the
on/off ratio of the totals.
"""

from __future__ import annotations

import argparse
import contextlib
import threading
import time
import uuid
from collections.abc import Iterator

import psycopg

from pgeventstore import schema
from pgeventstore.cluster import temporary_cluster

APPEND = """select eventstore.append_event(%s, null, 'Measured', '{"n": 1}')"""


@contextlib.contextmanager
def database(dsn: str | None, durable: bool) -> Iterator[str]:
    """The DSN to measure on: the given one, or a throwaway cluster's (store installed)."""
    if dsn:
        yield dsn
        return
    with temporary_cluster(settings={} if durable else None) as cluster:
        schema.migrate(cluster.dsn())
        yield cluster.dsn()


def round_of_appends(dsn: str, writers: int, seconds: float, notify: bool) -> float:
    """Appends per second of ``writers`` concurrent sessions over ``seconds``."""
    counts = [0] * writers
    start = threading.Barrier(writers + 1)

    def writer(index: int) -> None:
        stream_id = f"measure-{uuid.uuid4().hex}"
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f"set eventstore.notify = '{'on' if notify else 'off'}'")
            start.wait()
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                conn.execute(APPEND, (stream_id,))
                counts[index] += 1

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(writers)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.monotonic()
    for thread in threads:
        thread.join()
    return sum(counts) / (time.monotonic() - began)


def main() -> None:
    """Run the rounds and print the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", help="an existing database with the store installed")
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3, help="pairs of off/on rounds")
    parser.add_argument(
        "--durable", action="store_true", help="throwaway cluster with fsync and synchronous_commit on"
    )
    args = parser.parse_args()
    totals = {False: 0.0, True: 0.0}
    with database(args.dsn, args.durable) as dsn, psycopg.connect(dsn, autocommit=True) as conn:
        # A LISTENing session, so notifications are queued and delivered for real.
        conn.execute("listen eventstore")
        for notify in (False, True) * args.rounds:
            rate = round_of_appends(dsn, args.writers, args.seconds, notify)
            totals[notify] += rate
            print(f"notify {'on ' if notify else 'off'}: {rate:8.0f} appends/s", flush=True)
            for _ in conn.notifies(timeout=0, stop_after=None):
                pass
    print(f"on/off throughput ratio: {totals[True] / totals[False]:.2f}")


if __name__ == "__main__":
    main()
