"""What the Python client adds to one append: EventStore.append_event against bare psycopg.

Usage: .venv/bin/python scripts/measure_client_overhead.py [--calls 1500] [--rounds 5]

A throwaway cluster (fsync off, as in the tests) gets the store; each round appends
``--calls`` one-event calls to new streams through ``EventStore.append_event`` and the
same statement (``pgeventstore.calls.APPEND_EVENT_SQL``) through a bare psycopg
connection, interleaved. It prints microseconds per call for each round, the medians and
their difference: the client's own cost per call.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

import psycopg

from pgeventstore import EventStore, NewEvent, schema
from pgeventstore.calls import APPEND_EVENT_SQL
from pgeventstore.cluster import temporary_cluster

PAYLOAD: dict[str, Any] = {"order_id": "3f2c", "items": [{"sku": "SKU-1001", "qty": 2}], "total_cents": 5997}


def main() -> None:
    """Run the rounds and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=1500, help="calls per side and round")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds")
    args = parser.parse_args()
    with temporary_cluster() as cluster:
        schema.migrate(cluster.dsn())
        with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
            store = EventStore(conn)
            event = NewEvent("Measured", PAYLOAD)
            micros: dict[str, list[float]] = {"EventStore": [], "bare psycopg": []}
            for n in range(args.rounds):
                started = time.perf_counter()
                for i in range(args.calls):
                    store.append_event(f"client-{n}-{i}", event, -1)
                micros["EventStore"].append((time.perf_counter() - started) / args.calls * 1e6)
                started = time.perf_counter()
                for i in range(args.calls):
                    row = (f"bare-{n}-{i}", -1, "Measured", json.dumps(PAYLOAD), None, None)
                    conn.execute(APPEND_EVENT_SQL, row).fetchone()
                micros["bare psycopg"].append((time.perf_counter() - started) / args.calls * 1e6)
    for side, values in micros.items():
        rounds = ", ".join(f"{v:.0f}" for v in values)
        print(f"{side:13s} median {statistics.median(values):6.1f} us per call (rounds: {rounds})")
    extra = statistics.median(micros["EventStore"]) - statistics.median(micros["bare psycopg"])
    print(f"the client's own cost: {extra:.1f} us per call")


if __name__ == "__main__":
    main()
