"""How many events per second the store takes on this machine, by batching and by concurrency.

Usage: .venv/bin/python scripts/measure_throughput.py [--seconds 3] [--fast]

Starts a throwaway cluster with the server's durable defaults (fsync and
synchronous_commit on; --fast: off), installs the store, and appends the benchmark's
~200-byte event through the Python client (pgeventstore.EventStore, one autocommit
connection per client thread) for ``--seconds`` per line:

* one client, batches of 1, 10, 100 and 1,000 events per call (EventStore.append);
* 1 to 32 clients, each appending one event per call to its own stream
  (EventStore.append_event): concurrency, each append its own transaction;
* 8 clients, 100 events per call: both;
* one client sending 100 one-event appends per round trip through psycopg's pipeline
  mode (each still its own transaction): what pipelining alone gives.

It prints events per second and calls per second for each line.
"""

from __future__ import annotations

import argparse
import itertools
import threading
import time
from collections.abc import Callable

import psycopg

from pgeventstore import schema
from pgeventstore.calls import APPEND_EVENT_SQL
from pgeventstore.cluster import FAST_SETTINGS, temporary_cluster
from pgeventstore.store import EventStore
from pgeventstore.values import NO_STREAM, NewEvent
from pgeventstore_bench.statements import EVENT_TYPE, PAYLOAD, PAYLOAD_JSON

EVENT = NewEvent(EVENT_TYPE, PAYLOAD)


def run_clients(clients: int, seconds: float, work: Callable[[int], int]) -> tuple[float, float]:
    """Run ``work(client)`` repeatedly on ``clients`` threads for ``seconds``: (events/s, calls/s)."""
    totals = [[0, 0] for _ in range(clients)]
    barrier = threading.Barrier(clients + 1)
    stop = threading.Event()

    def client(index: int) -> None:
        barrier.wait()
        while not stop.is_set():
            totals[index][0] += work(index)
            totals[index][1] += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    barrier.wait()
    start = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    return sum(t[0] for t in totals) / elapsed, sum(t[1] for t in totals) / elapsed


def main() -> None:
    """Start the cluster, run every line and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=3.0, help="seconds per line")
    parser.add_argument("--fast", action="store_true", help="fsync and synchronous_commit off")
    args = parser.parse_args()
    with temporary_cluster(settings=dict(FAST_SETTINGS) if args.fast else {}) as cluster:
        dsn = cluster.dsn()
        schema.migrate(dsn)
        streams = itertools.count()
        lines: list[tuple[str, float, float]] = []

        def batched(stores: list[EventStore], size: int) -> Callable[[int], int]:
            events = [EVENT] * size

            def work(index: int) -> int:
                if size == 1:
                    stores[index].append_event(f"t-{next(streams)}", EVENT, NO_STREAM)
                else:
                    stores[index].append(f"t-{next(streams)}", events, NO_STREAM)
                return size

            return work

        for clients, size in [
            (1, 1),
            (1, 10),
            (1, 100),
            (1, 1000),
            (2, 1),
            (4, 1),
            (8, 1),
            (16, 1),
            (32, 1),
            (8, 100),
        ]:
            conns = [psycopg.connect(dsn, autocommit=True) for _ in range(clients)]
            try:
                rate, calls = run_clients(
                    clients, args.seconds, batched([EventStore(c) for c in conns], size)
                )
            finally:
                for conn in conns:
                    conn.close()
            lines.append((f"{clients} client(s), {size} event(s) per call", rate, calls))

        with psycopg.connect(dsn, autocommit=True) as conn:

            def pipelined(index: int) -> int:
                with conn.pipeline(), conn.cursor() as cur:
                    for _ in range(100):
                        cur.execute(
                            APPEND_EVENT_SQL,
                            (f"p-{next(streams)}", NO_STREAM, EVENT_TYPE, PAYLOAD_JSON, None, None),
                        )
                return 100

            rate, calls = run_clients(1, args.seconds, pipelined)
            lines.append(("1 client, 100 one-event appends per round trip (pipeline)", rate, calls * 100))

    print("fsync off (CPU-bound)" if args.fast else "durable (fsync and synchronous_commit on)")
    print(f"{'line':60s} {'events/s':>10s} {'calls/s':>9s}")
    for title, rate, calls in lines:
        print(f"{title:60s} {rate:10,.0f} {calls:9,.0f}")


if __name__ == "__main__":
    main()
