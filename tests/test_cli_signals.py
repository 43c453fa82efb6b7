"""Ctrl-C and closed pipes, on real processes: exit 130 and exit 0, quietly, nothing half-written."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable

import psycopg
from psycopg.conninfo import conninfo_to_dict

from pgeventstore import EventStore, NewEvent


def start(dsn: str, *args: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k not in ("PGEVENTSTORE_DSN", "DATABASE_URL")}
    env["PGEVENTSTORE_DSN"] = dsn
    return subprocess.Popen(
        [sys.executable, "-m", "pgeventstore", *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def event_count(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("select count(*) from eventstore.events").fetchone()
    assert row is not None
    return int(row[0])


def test_ctrl_c_stops_tail_with_exit_130(dsn: str) -> None:
    with EventStore(dsn) as store:
        store.append("order-1", [NewEvent("Placed", {})])
    child = start(dsn, "tail", "--poll-interval", "0.05")
    try:
        assert child.stdout is not None
        ready, _, _ = select.select([child.stdout], [], [], 60)
        assert ready and b"order-1@0" in child.stdout.readline()
        child.send_signal(signal.SIGINT)
        _, stderr = child.communicate(timeout=60)
        assert child.returncode == 130
        assert stderr == b"", stderr
    finally:
        child.kill()


def test_ctrl_c_during_an_import_exits_130_and_writes_nothing(dsn: str) -> None:
    dbname = conninfo_to_dict(dsn)["dbname"]
    child = start(dsn, "import")
    try:
        assert child.stdin is not None
        lines = (
            f'{{"stream_id": "s-{n // 10}", "version": {n % 10}, "id": "00000000-0000-0000-0000-{n:012d}", '
            f'"type": "T", "data": {{}}}}\n'
            for n in range(1500)
        )
        child.stdin.write("".join(lines).encode())
        child.stdin.flush()

        def importing() -> bool:
            # The first 1000 events are appended, in a transaction that waits for more input.
            with psycopg.connect(dsn, autocommit=True) as conn:
                row = conn.execute(
                    "select count(*) from pg_stat_activity "
                    "where datname = %s and state = 'idle in transaction'",
                    (dbname,),
                ).fetchone()
            return row is not None and row[0] > 0

        wait_for(importing, "the import's transaction")
        child.send_signal(signal.SIGINT)
        _, stderr = child.communicate(timeout=60)
        assert child.returncode == 130
        assert stderr == b"", stderr
        assert event_count(dsn) == 0
    finally:
        child.kill()


def closed_early(dsn: str, *args: str) -> tuple[int | None, bytes]:
    """Run a command whose reader takes one line and goes away (as `| head -1` does)."""
    child = start(dsn, *args)
    try:
        assert child.stdout is not None and child.stderr is not None
        first = child.stdout.readline()
        assert first.startswith(b"{")
        child.stdout.close()
        child.wait(timeout=60)
        return child.returncode, child.stderr.read()
    finally:
        child.kill()


def test_a_closed_pipe_ends_read_and_export_with_exit_0(dsn: str) -> None:
    with EventStore(dsn) as store:
        for n in range(5):
            store.append(f"long-{n}", [NewEvent("Tick", {"i": i, "pad": "x" * 100}) for i in range(1000)])
    for args in (["read", "long-0", "--json"], ["export"], ["tail", "--no-follow", "--json"]):
        code, stderr = closed_early(dsn, *args)
        assert (code, stderr) == (0, b""), (args, code, stderr)
