"""pg_dump of a live store restored into a fresh, younger cluster, as on a managed service.

The source cluster runs in transaction id epoch 1, as a production cluster that ran for a
while does, so every transaction id it recorded is ahead of any id a fresh cluster
assigns. The store is installed, dumped and restored by a role that is no superuser, and
nothing touches the target's files (no pg_resetwal). At dump time the store holds events
committed but not numbered yet, and a stream whose last event was written by an older
transaction after a newer one. After the restore, appends work at once, the log (read
from 0) is the source's log, and a subscriber resumes from its checkpoint with nothing
skipped or repeated (docs/moving.md, "Restoring from pg_dump").
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
from psycopg.conninfo import make_conninfo

from pgeventstore import schema
from pgeventstore.cluster import Cluster, ClusterError
from pgeventstore.store import EventStore
from pgeventstore.subscription import Subscription
from pgeventstore.values import NewEvent, RecordedEvent

#: The role that owns the store on both clusters: CREATEROLE and CREATEDB, as a managed
#: service's administrator has, but no superuser. Every login to a private cluster needs
#: a password.
OWNER_SETUP = "create role app login createrole createdb password 'app'"


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


def app_dsn(cluster: Cluster) -> str:
    return make_conninfo(cluster.dsn("shop"), user="app", password="app")


def prepare(cluster: Cluster) -> None:
    """The owner role and an empty database it owns, made by the cluster's superuser."""
    with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
        conn.execute(OWNER_SETUP)
        conn.execute("create database shop owner app")


def tool(cluster: Cluster, name: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(cluster.bindir / name), *args], capture_output=True, text=True, check=False, timeout=120
    )


def log_of(dsn: str) -> list[tuple[int, str, int, uuid.UUID]]:
    """The whole log: (log number, stream, version, event id)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(
            "select log_number, stream_id, version, event_id from eventstore.read_all(0, 100000)"
        ).fetchall()
    return [(r[0], r[1], r[2], r[3]) for r in rows]


def test_a_live_store_moves_by_pg_dump_into_a_younger_cluster(tmp_path: Path) -> None:
    dump = tmp_path / "store.dump"
    delivered: list[RecordedEvent] = []
    with stopped_cluster() as source:
        source.set_xid_epoch(1)
        source.start()
        prepare(source)
        schema.migrate(app_dsn(source))
        with EventStore(app_dsn(source)) as store:
            for n in range(5):
                store.append(f"order-{n}", [NewEvent("Placed", {"n": n}), NewEvent("Paid", {"n": n})])
            # A subscriber processes what is there and saves its checkpoint.
            Subscription(app_dsn(source), "mailer", delivered.append).catch_up()
            assert len(delivered) == 10
            # An older transaction appends to a stream after a newer one committed there.
            with psycopg.connect(app_dsn(source)) as older:
                older.execute("select pg_current_xact_id()")
                store.append("order-0", [NewEvent("Shipped", {"by": "newer"})])
                older.execute(
                    "select eventstore.append_event('order-0', 2, 'Delivered', '{\"by\": \"older\"}')"
                )
                older.commit()
            store.append("order-9", [NewEvent("Placed", {"n": 9})])
        with psycopg.connect(app_dsn(source)) as conn:
            newest = conn.execute(
                "select max(transaction_id)::text::numeric from eventstore.events"
            ).fetchone()
            unnumbered = conn.execute(
                "select count(*) from eventstore.events e"
                " where not exists (select from eventstore.log l where l.global_position = e.global_position)"
            ).fetchone()
        assert newest is not None and newest[0] > 2**32, "the source cluster runs in epoch 1"
        assert unnumbered == (3,), "the dump holds events committed but not numbered yet"
        dumped = tool(source, "pg_dump", "-Fc", "-f", str(dump), "-d", app_dsn(source))
        assert dumped.returncode == 0, dumped.stderr
        # What the source's log becomes once it numbers them: the target must agree.
        source_log = log_of(app_dsn(source))
    assert len(source_log) == 13

    with stopped_cluster() as target:
        target.start()
        prepare(target)
        # The store's roles are cluster-wide: the owner creates them before the restore,
        # as the install would (CREATEROLE is enough).
        with psycopg.connect(app_dsn(target), autocommit=True) as conn:
            for role in (
                "eventstore_reader",
                "eventstore_writer",
                "eventstore_admin",
                "eventstore_maintenance",
            ):
                conn.execute(f"create role {role} nologin")
            conn.execute("grant eventstore_reader to eventstore_writer")
            conn.execute("grant eventstore_writer to eventstore_admin")
        restored = tool(target, "pg_restore", "--exit-on-error", "-d", app_dsn(target), str(dump))
        assert restored.returncode == 0, restored.stderr

        appended: list[uuid.UUID] = []
        with EventStore(app_dsn(target)) as store:
            for stream in ("order-0", "order-new", "order-4", "order-new"):
                event = NewEvent("Returned", {"stream": stream}, id=uuid.uuid4())
                store.append(stream, [event])
                appended.append(event.id)
            assert [e.type for e in store.read_stream("order-0")] == [
                "Placed",
                "Paid",
                "Shipped",
                "Delivered",
                "Returned",
            ]
        target_log = log_of(app_dsn(target))
        assert target_log[: len(source_log)] == source_log, "the log is the source's, numbers included"
        assert [event_id for *_, event_id in target_log[len(source_log) :]] == appended
        assert [n for n, *_ in target_log] == list(range(1, len(target_log) + 1)), "dense"

        resumed: list[RecordedEvent] = []
        Subscription(app_dsn(target), "mailer", resumed.append).catch_up()
        assert [e.id for e in delivered + resumed] == [event_id for *_, event_id in target_log], (
            "the subscriber resumes from its checkpoint: nothing skipped, nothing repeated"
        )
