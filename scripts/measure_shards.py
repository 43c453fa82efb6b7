"""Measure the router of a sharded store: its cost per call, and throughput by shard count.

Usage: .venv/bin/python scripts/measure_shards.py [--calls 2000] [--writers 4] [--seconds 5]
                                                   [--rounds 3]

Starts a throwaway cluster (pgeventstore.cluster; fsync and synchronous_commit off as in
the tests) holding a plain store and, for 1, 2 and 4 shards, a router with that many
shard databases (256 partitions), all in the one cluster, so every number shares the
machine's cores.

1. Per call, one connection, --calls calls of each kind, plain store vs router (1 shard):
   client latency (mean, p50, p99) and the CPU time of the cluster's server processes per
   call (their utime + stime from /proc, router and shard backends together).
2. Throughput: --writers threads, each appending one-event transactions to new streams
   for --seconds, on the plain store and on the routers with 1, 2 and 4 shards, in
   --rounds rounds (each round in another order, since the machine's other load drifts):
   appends per second, the ratio to the plain store in the same round, and the server
   CPU time per append (all of the cluster's processes) over the round.
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import psycopg
from psycopg import sql

from pgeventstore import schema, shard
from pgeventstore.cluster import Cluster, temporary_cluster

APPEND = "select eventstore.append_event(%s, -1, 'Measured', '{\"n\": 1}')"
READ = "select count(*) from eventstore.read_stream('read-1', 0, 10)"
VERSION = "select eventstore.stream_version('read-1')"
TICK = os.sysconf("SC_CLK_TCK")


def server_ticks(cluster: Cluster) -> dict[int, tuple[int, str]]:
    """Each live server process of ``cluster``: its CPU clock ticks so far and its title."""
    postmaster = (cluster.data_dir / "postmaster.pid").read_text(encoding="utf-8").split()[0]
    found: dict[int, tuple[int, str]] = {}
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            fields = (proc / "stat").read_text(encoding="utf-8").rsplit(")", 1)[1].split()
            title = (proc / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if fields[1] == postmaster:
            found[int(proc.name)] = (int(fields[11]) + int(fields[12]), title)
    return found


def server_cpu(
    before: dict[int, tuple[int, str]], after: dict[int, tuple[int, str]], router: str
) -> tuple[float, float]:
    """CPU seconds the server processes used between two :func:`server_ticks` readings.

    Split in two: the backends connected to the database ``router`` (their process title
    names it), and all the others. A process that ended in between (an autovacuum worker)
    is left out: its last ticks cannot be read.
    """
    on_router = others = 0
    for pid, (ticks, title) in after.items():
        used = ticks - before.get(pid, (0, ""))[0]
        if router and f" {router} " in title:
            on_router += used
        else:
            others += used
    return on_router / TICK, others / TICK


def create(cluster: Cluster) -> str:
    """A new empty database in ``cluster``; its name."""
    name = f"m_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    return name


def per_call(
    cluster: Cluster, dsn: str, query: str, calls: int, params: Callable[[int], tuple[str, ...]]
) -> str:
    """Latency and server CPU per call of ``query``, after a warm-up."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        for n in range(200):
            conn.execute(query, params(-n - 1))
        times = []
        dbname = conn.info.dbname
        before = server_ticks(cluster)
        for n in range(calls):
            start = time.perf_counter()
            conn.execute(query, params(n)).fetchall()
            times.append(time.perf_counter() - start)
        on_router, others = server_cpu(before, server_ticks(cluster), dbname)
    times.sort()
    # The plain store has no router: its own backend is the "router" column.
    return (
        f"mean {statistics.fmean(times) * 1e3:.3f} ms, p50 {times[len(times) // 2] * 1e3:.3f} ms, "
        f"p99 {times[int(len(times) * 0.99)] * 1e3:.3f} ms, server CPU per call: "
        f"{on_router / calls * 1e6:.0f} us this backend + {others / calls * 1e6:.0f} us other processes"
    )


def throughput(cluster: Cluster, dsn: str, writers: int, seconds: float) -> tuple[float, float]:
    """Appends per second of ``writers`` threads to new streams, and server CPU seconds per append.

    The writers connect and warm up first (a router connects to a shard at its first call
    there), and close only after the CPU is read, since a closed backend leaves /proc.
    """
    counts = [0] * writers
    ready = threading.Barrier(writers + 1)
    finished = threading.Barrier(writers + 1)
    closing = threading.Event()
    stop = [0.0]

    def write(slot: int) -> None:
        with psycopg.connect(dsn, autocommit=True) as conn:
            for _ in range(50):
                conn.execute(APPEND, (f"warm-{uuid.uuid4().hex}",))
            ready.wait()
            n = 0
            while time.monotonic() < stop[0]:
                conn.execute(APPEND, (f"w{slot}-{uuid.uuid4().hex}",))
                n += 1
            counts[slot] = n
            finished.wait()
            closing.wait()

    threads = [threading.Thread(target=write, args=(slot,)) for slot in range(writers)]
    for thread in threads:
        thread.start()
    before = server_ticks(cluster)
    stop[0] = time.monotonic() + seconds
    ready.wait()
    finished.wait()
    cpu = sum(server_cpu(before, server_ticks(cluster), ""))
    closing.set()
    for thread in threads:
        thread.join()
    return sum(counts) / seconds, cpu / max(sum(counts), 1)


def main() -> None:
    """Run both measurements and print them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with temporary_cluster() as cluster:
        plain = cluster.dsn(create(cluster))
        schema.migrate(plain)
        routers: dict[int, str] = {}
        for count in (1, 2, 4):
            shards = [cluster.dsn_for_server_of(cluster, create(cluster)) for _ in range(count)]
            routers[count] = cluster.dsn(create(cluster))
            shard.init(routers[count], shards, 256)
        for dsn in (plain, routers[1]):
            with psycopg.connect(dsn, autocommit=True) as conn:
                for _ in range(10):
                    conn.execute("select eventstore.append_event('read-1', null, 'Measured', '{}')")
        print(f"per call, one connection, {args.calls} calls each")
        run = uuid.uuid4().hex[:8]
        for label, query, params in [
            ("append_event, new stream", APPEND, lambda n: (f"c-{run}-{n}",)),
            ("read_stream, 10 events", READ, lambda n: ()),
            ("stream_version", VERSION, lambda n: ()),
        ]:
            for where, dsn in (("plain ", plain), ("router", routers[1])):
                print(f"  {label:26} {where}: {per_call(cluster, dsn, query, args.calls, params)}")
        print(
            f"throughput, {args.writers} writers, {args.seconds:g} s each, one-event appends to new streams, "
            f"{args.rounds} rounds"
        )
        targets = [("plain store", plain)] + [
            (f"router, {count} shard{'s' if count > 1 else ''}", dsn) for count, dsn in routers.items()
        ]
        ratios: dict[str, list[float]] = {label: [] for label, _ in targets}
        for number in range(args.rounds):
            order = targets[number % len(targets) :] + targets[: number % len(targets)]
            rates = {label: throughput(cluster, dsn, args.writers, args.seconds) for label, dsn in order}
            base = rates["plain store"][0]
            for label, _ in targets:
                rate, cpu = rates[label]
                ratios[label].append(rate / base)
                print(
                    f"  round {number + 1}  {label:17} {rate:8.0f} appends/s  {rate / base:.2f}  "
                    f"server CPU {cpu * 1e6:.0f} us/append"
                )
        for label, values in ratios.items():
            print(f"  median ratio to the plain store  {label:17} {statistics.median(values):.2f}")
        print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
