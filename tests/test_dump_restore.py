"""pg_dump / pg_restore into a fresh cluster (issue 7, docs/operations.md).

A fresh cluster assigns low transaction ids again, so events appended after a restore
would sort before the restored ones in the global log (ordered by the recorded xid8,
then the global position) and a subscriber's cursor would never reach them. The store
refuses such appends (ES503) until the restore procedure advanced the xid epoch; after
it, appends continue and everything appended sorts after the cursor.

A subscriber's cursor (the last global position read_all gave it before the dump) still
receives exactly the new events after the procedure. The source cluster is put in xid
epoch 1 first, so it is "ahead" of any fresh cluster, as a production cluster that ran
for a while is.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from pgeventstore import schema
from pgeventstore.cluster import Cluster, ClusterError
from pgeventstore.errors import LogOrderAtRisk
from pgeventstore.store import EventStore
from pgeventstore.values import NewEvent


@contextlib.contextmanager
def stopped_cluster() -> Iterator[Cluster]:
    """A new, initialised but stopped cluster, removed on exit."""
    root = Path(tempfile.mkdtemp(prefix="pgeventstore-restore-"))
    cluster = Cluster(root / "data")
    try:
        cluster.init()
        yield cluster
    finally:
        with contextlib.suppress(ClusterError):
            cluster.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)


def tool(cluster: Cluster, name: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(cluster.bindir / name), *args], capture_output=True, text=True, check=False, timeout=120
    )


def read_all(conn: psycopg.Connection, cursor: int) -> list[tuple[int, uuid.UUID]]:
    """What a subscriber reads after ``cursor`` (a global position): (position, event id)."""
    rows = conn.execute(
        "select global_position, event_id from eventstore.read_all(%s, 1000)", (cursor,)
    ).fetchall()
    return [(r[0], r[1]) for r in rows]


def test_restore_refuses_appends_until_the_xid_epoch_is_advanced(tmp_path: Path) -> None:
    dump = tmp_path / "store.dump"
    with stopped_cluster() as source:
        source.set_xid_epoch(1)
        source.start()
        with psycopg.connect(source.dsn(), autocommit=True) as conn:
            conn.execute("create database shop")
        schema.migrate(source.dsn("shop"))
        with EventStore(source.dsn("shop")) as store:
            for n in range(5):
                store.append(f"order-{n}", [NewEvent("Placed", {"n": n}), NewEvent("Paid", {"n": n})])
        with psycopg.connect(source.dsn("shop")) as conn:
            subscriber_got = read_all(conn, 0)
            stored_before = conn.execute("select count(*) from eventstore.events").fetchone()
            newest = conn.execute(
                "select max(transaction_id)::text::numeric from eventstore.events"
            ).fetchone()
        assert len(subscriber_got) == 10
        cursor = subscriber_got[-1][0]
        assert newest is not None and newest[0] > 2**32, "the source cluster runs in epoch 1"
        roles = tool(source, "pg_dumpall", "--roles-only", "-d", source.dsn())
        assert roles.returncode == 0, roles.stderr
        dumped = tool(source, "pg_dump", "-Fc", "-f", str(dump), "-d", source.dsn("shop"))
        assert dumped.returncode == 0, dumped.stderr

    with stopped_cluster() as target:
        target.start()
        with psycopg.connect(target.dsn(), autocommit=True) as conn:
            conn.execute("create database shop")
        # The roles are cluster-wide: they come first, then the database.
        replayed = subprocess.run(
            [str(target.bindir / "psql"), "-X", "-q", "-d", target.dsn()],
            input=roles.stdout,
            capture_output=True,
            text=True,
            check=False,
        )
        assert replayed.returncode == 0, replayed.stderr
        restored = tool(target, "pg_restore", "--exit-on-error", "-d", target.dsn("shop"), str(dump))
        assert restored.returncode == 0, restored.stderr

        with EventStore(target.dsn("shop")) as store:
            with pytest.raises(LogOrderAtRisk) as refused:
                store.append("order-0", [NewEvent("Shipped", {})])
            assert refused.value.hint is not None
            assert "pg_resetwal -e 2 " in refused.value.hint
            with pytest.raises(LogOrderAtRisk):
                store.append("order-new", [NewEvent("Placed", {})])
        with psycopg.connect(target.dsn("shop")) as conn:
            assert conn.execute("select count(*) from eventstore.events").fetchone() == stored_before
            assert read_all(conn, 0) == [], "restored events wait for the procedure (their xids are ahead)"

        # The procedure of docs/operations.md: stop, pg_resetwal -e <hint>, start.
        target.stop()
        target.set_xid_epoch(2)
        target.start()

        appended: list[uuid.UUID] = []
        with EventStore(target.dsn("shop")) as store:
            for stream in ("order-0", "order-new", "order-4", "order-new"):
                event = NewEvent("Shipped", {"stream": stream}, id=uuid.uuid4())
                store.append(stream, [event])
                appended.append(event.id)
            assert [e.version for e in store.read_stream("order-0")] == [0, 1, 2]
        with psycopg.connect(target.dsn("shop")) as conn:
            assert [event_id for _, event_id in read_all(conn, cursor)] == appended, (
                "the subscriber's cursor receives every new event, in order"
            )
            assert read_all(conn, 0)[: len(subscriber_got)] == subscriber_got
            assert conn.execute("select eventstore.stream_version('order-new')").fetchone() == (1,)
