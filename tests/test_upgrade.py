"""Upgrading a store of the released schema (pgeventstore 0.1.0) to this one while it is used.

The store is installed from the release's own DBA script (tests/fixtures/release-0008.sql)
and written, read and checkpointed through the release's SQL API, whose cursors and
checkpoints are global positions in the order (transaction_id, global_position). Then the
current schema upgrades it, by ``pgeventstore migrate`` or by a script applied with psql,
while a writer transaction is still open and a reader's session stays connected. Every
event keeps its place in the log, every checkpoint resumes at the event it stood at, and
subscriptions and projections resuming from them deliver nothing twice and skip nothing.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psycopg
import pytest
from conftest import create_database, drop_database, dsn_for
from psycopg.conninfo import make_conninfo

from pgeventstore import schema
from pgeventstore.errors import LogDiverged, StreamNotFound
from pgeventstore.store import EventStore
from pgeventstore.subscription import Projection, Subscription
from pgeventstore.values import LogFilter, NewEvent, RecordedEvent
from test_dump_restore import stopped_cluster
from test_install import RELEASE_SCRIPT, catalog, cli, ledger, migration_ids, psql_file, tool

#: The commit of the release whose install script RELEASE_SCRIPT is.
RELEASE_COMMIT = "9b44472"
#: The migrations of the release: what its script records in eventstore.schema_migrations.
RELEASE_MIGRATIONS = [m for m in migration_ids() if m < "0009"]
#: The migrations that upgrade it.
UPGRADE_MIGRATIONS = [m for m in migration_ids() if m not in RELEASE_MIGRATIONS]
#: The line that ends RELEASE_SCRIPT's own header; the release's output follows it.
FIXTURE_HEADER_END = "-- " + "=" * 86 + "\n"


@pytest.fixture
def release_dsn(admin_dsn: str) -> Iterator[str]:
    """A database with the released schema, installed from its script as a DBA would."""
    name = create_database(admin_dsn)
    dsn = dsn_for(admin_dsn, name)
    install_release(dsn)
    yield dsn
    drop_database(admin_dsn, name)


def install_release(dsn: str) -> None:
    applied = psql_file(dsn, RELEASE_SCRIPT)
    assert applied.returncode == 0, applied.stderr
    assert ledger(dsn) == RELEASE_MIGRATIONS


def upgrade_by_migrate(dsn: str, tmp_path: Path) -> None:
    assert schema.migrate(dsn) == UPGRADE_MIGRATIONS


def upgrade_by_script(dsn: str, tmp_path: Path) -> None:
    """The DBA path: ``pgeventstore sql --upgrade > upgrade.sql``, applied with psql."""
    printed = cli("sql", "--upgrade")
    assert printed.returncode == 0, printed.stderr
    script = tmp_path / "upgrade.sql"
    script.write_text(printed.stdout, encoding="utf-8")
    applied = psql_file(dsn, script)
    assert applied.returncode == 0, applied.stderr
    assert schema.migrate(dsn) == [], "migrate adopts what the script applied"


UPGRADES: dict[str, Callable[[str, Path], None]] = {
    "migrate": upgrade_by_migrate,
    "script": upgrade_by_script,
}


def append(conn: psycopg.Connection[Any], stream_id: str, *types: str) -> list[uuid.UUID]:
    """Append with append_to_stream (its call is the same in the release and now); the ids."""
    ids = [uuid.uuid4() for _ in types]
    batch = [
        {"type": t, "data": {"stream": stream_id}, "id": str(i)} for t, i in zip(types, ids, strict=True)
    ]
    conn.execute("select eventstore.append_to_stream(%s, null, %s::jsonb)", (stream_id, json.dumps(batch)))
    return ids


def position_of(conn: psycopg.Connection[Any], event_id: uuid.UUID) -> int:
    row = conn.execute(
        "select global_position from eventstore.events where event_id = %s", (event_id,)
    ).fetchone()
    assert row is not None
    return int(row[0])


def release_read_all(conn: psycopg.Connection[Any], after_position: int = 0) -> list[uuid.UUID]:
    """The release's global log after a cursor (a global position), as its read_all returns it."""
    rows = conn.execute("select event_id from eventstore.read_all(%s, 100000)", (after_position,))
    return [row[0] for row in rows]


def release_read_category(
    conn: psycopg.Connection[Any], category: str, after_position: int
) -> list[uuid.UUID]:
    rows = conn.execute(
        "select event_id from eventstore.read_category(%s, %s, 100000)", (category, after_position)
    )
    return [row[0] for row in rows]


def release_save_checkpoint(
    conn: psycopg.Connection[Any], name: str, position: int, expected: int | None = None
) -> None:
    row = conn.execute("select eventstore.save_checkpoint(%s, %s, %s)", (name, position, expected)).fetchone()
    assert row == (True,)


def read_log(conn: psycopg.Connection[Any], after: int = 0, category: str | None = None) -> list[uuid.UUID]:
    """The current schema's log after a log number."""
    rows = conn.execute(
        "select event_id from eventstore.read_all(%s, 100000, category => %s)", (after, category)
    )
    return [row[0] for row in rows]


def log_number_of(conn: psycopg.Connection[Any], position: int) -> int:
    row = conn.execute("select eventstore.log_number_of(%s)", (position,)).fetchone()
    assert row is not None and row[0] is not None, f"global position {position} has no log number"
    return int(row[0])


def wait_for_lock_wait(
    dsn: str, table: str | tuple[str, ...], done: Future[Any] | None = None, sessions: int = 1
) -> bool:
    """Wait until ``sessions`` sessions wait for a lock on ``table`` (or on any of several):
    True; False if ``done`` finished first."""
    tables = [table] if isinstance(table, str) else list(table)
    deadline = time.monotonic() + 60
    with psycopg.connect(dsn, autocommit=True) as conn:
        while time.monotonic() < deadline:
            if done is not None and done.done():
                return False
            row = conn.execute(
                "select count(distinct pid) from pg_locks "
                "where not granted and relation = any (%s::regclass[])",
                (tables,),
            ).fetchone()
            if row is not None and row[0] >= sessions:
                return True
            time.sleep(0.05)
    raise AssertionError(f"{sessions} session(s) did not come to wait for a lock on {table}")


def test_the_fixture_is_the_release_script(tmp_path: Path) -> None:
    """Below its header, RELEASE_SCRIPT is what the release's ``pgeventstore sql`` printed
    (its schema.install_script(), run from that commit's files)."""
    repo = Path(__file__).resolve().parent.parent
    archive = subprocess.run(
        ["git", "-C", str(repo), "archive", RELEASE_COMMIT, "py", "sql", "migrations"],
        capture_output=True,
        check=False,
    )
    if archive.returncode != 0:
        pytest.skip(f"this checkout has no git history with {RELEASE_COMMIT}")
    subprocess.run(["tar", "-x", "-C", str(tmp_path)], input=archive.stdout, check=True)
    printed = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from pgeventstore import schema; sys.stdout.write(schema.install_script())",
        ],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(tmp_path / "py"), "PATH": ""},
    )
    assert "pgeventstore 0.1.0: install script" in printed.stdout
    header, released = RELEASE_SCRIPT.read_text(encoding="utf-8").split(FIXTURE_HEADER_END, 1)
    assert RELEASE_COMMIT in header
    assert released == printed.stdout


@pytest.mark.parametrize("upgrade", sorted(UPGRADES))
def test_the_released_store_upgrades_with_live_subscriptions(
    release_dsn: str, upgrade: str, tmp_path: Path
) -> None:
    dsn = release_dsn
    stream_of: dict[uuid.UUID, str] = {}

    def track(stream_id: str, ids: list[uuid.UUID]) -> list[uuid.UUID]:
        stream_of.update(dict.fromkeys(ids, stream_id))
        return ids

    # The open writer's connection closes first when the test fails, so the upgrade it
    # holds up ends before the executor waits for it.
    with (
        ThreadPoolExecutor(max_workers=1) as upgrader,
        psycopg.connect(dsn, autocommit=True) as writer,
        psycopg.connect(dsn, autocommit=True) as reader,
        psycopg.connect(dsn) as open_writer,
    ):
        # --- the release, in use ---------------------------------------------------------
        for n in range(3):
            track(f"order-{n}", append(writer, f"order-{n}", "Placed", "Paid"))
        # An older transaction takes its id, a newer one appends and commits, then the older
        # appends: its event has the larger position and sorts first in the log.
        with psycopg.connect(dsn) as older:
            older.execute("select pg_current_xact_id()")
            [newer_event] = track("invoice-1", append(writer, "invoice-1", "Issued"))
            [older_event] = track("invoice-2", append(older, "invoice-2", "Issued"))
            older.commit()
        track("order-0", append(writer, "order-0", "Shipped"))
        released = release_read_all(reader)
        assert set(released) == set(stream_of)
        newer_position, older_position = position_of(writer, newer_event), position_of(writer, older_event)
        assert older_position > newer_position
        assert released.index(older_event) < released.index(newer_event), "log order is not position order"
        last_position = position_of(writer, released[-1])
        cursor = last_position  # a reader keeps its cursor outside the store

        # Checkpoints, saved as the release saved them: global positions.
        checkpoint_events = {
            "from-start": None,
            "mid": older_event,
            "newer": newer_event,
            "last": released[-1],
        }
        checkpoints = {"from-start": 0, "mid": older_position, "newer": newer_position, "last": last_position}
        for name, position in checkpoints.items():
            release_save_checkpoint(writer, name, position)
        processed = {
            name: [] if event_id is None else released[: released.index(event_id) + 1]
            for name, event_id in checkpoint_events.items()
        }
        order_events = release_read_category(reader, "order", 0)
        orders_position = position_of(writer, order_events[2])
        release_save_checkpoint(writer, "orders", orders_position)
        release_after = {name: release_read_all(reader, position) for name, position in checkpoints.items()}
        assert all(processed[name] + release_after[name] == released for name in checkpoints)
        release_orders_after = release_read_category(reader, "order", orders_position)
        # A projection of the release: its read model and checkpoint commit together.
        writer.execute("create table seen (event_id uuid primary key)")
        with writer.transaction():
            for event_id in released[: released.index(older_event) + 1]:
                writer.execute("insert into seen values (%s)", (event_id,))
            release_save_checkpoint(writer, "projection", older_position, expected=0)

        # Writes under way: an open transaction appended; a newer one committed after it,
        # which the release's readers do not return while the older one is open.
        open_ids = track("cart-1", append(open_writer, "cart-1", "Added"))
        waiting = track("order-1", append(writer, "order-1", "Refunded"))
        assert release_read_all(reader, last_position) == []

        # --- the upgrade ---------------------------------------------------------------
        upgrading = upgrader.submit(UPGRADES[upgrade], dsn, tmp_path)
        # Its function files re-create the trigger on eventstore.events, which waits for
        # the open writer's transaction: the migration has run by then.
        wait_for_lock_wait(dsn, "eventstore.events", upgrading)
        open_ids += track("cart-1", append(open_writer, "cart-1", "Removed"))
        open_writer.commit()
        upgrading.result(timeout=120)

        with psycopg.connect(dsn, autocommit=True) as conn:
            numbered = conn.execute("select count(*) from eventstore.log").fetchone()
        assert numbered == (len(released),), "the migration numbers what was readable, nothing else"

        # --- the current schema, in the sessions that outlived the upgrade --------------
        later = track("order-2", append(writer, "order-2", "Placed"))
        with EventStore(dsn) as store:
            event = NewEvent("Issued", {"stream": "invoice-3"}, id=uuid.uuid4())
            store.append("invoice-3", [event])
            later += track("invoice-3", [event.id])
        after_release = [*open_ids, *waiting, *later]

        log = reader.execute("select log_number, event_id from eventstore.read_all(0, 100000)").fetchall()
        assert [n for n, _ in log] == list(range(1, len(log) + 1)), "dense"
        assert [event_id for _, event_id in log] == released + after_release, (
            "the release's log order, then the events of the transactions under way and the new ones"
        )
        whole_log = [event_id for _, event_id in log]

        # A cursor kept outside the store converts with log_number_of.
        converted = log_number_of(reader, cursor)
        rows = reader.execute(
            "select event_id from eventstore.read_all(%s, 100000, after_event_id => %s)",
            (converted, released[-1]),
        )
        assert [row[0] for row in rows] == after_release

        with EventStore(dsn) as store:
            for name, position in checkpoints.items():
                number = store.load_checkpoint(name)
                assert number == (0 if position == 0 else log_number_of(reader, position)), name
                assert read_log(reader, number) == release_after[name] + after_release, name
            number = store.load_checkpoint("orders")
            later_orders = [e for e in after_release if stream_of[e].startswith("order-")]
            assert read_log(reader, number, category="order") == release_orders_after + later_orders

        for name in checkpoints:
            delivered: list[RecordedEvent] = []
            subscription = Subscription(dsn, name, delivered.append)
            subscription.catch_up()
            assert processed[name] + [e.id for e in delivered] == whole_log, (
                f"{name}: nothing twice, nothing skipped"
            )
            assert subscription.catch_up() == 0

        orders: list[RecordedEvent] = []
        Subscription(dsn, "orders", orders.append, log_filter=LogFilter(category="order")).catch_up()
        assert [e.id for e in orders] == release_orders_after + later_orders

        def project(conn: psycopg.Connection[Any], event: RecordedEvent) -> None:
            conn.execute("insert into seen values (%s)", (event.id,))

        Projection(dsn, "projection", project).catch_up()
        seen = {row[0] for row in writer.execute("select event_id from seen")}
        assert seen == set(whole_log)


def test_a_release_store_restored_into_a_younger_cluster_upgrades(tmp_path: Path) -> None:
    """The release could not serve a store pg_dump moved into a younger cluster without
    pg_resetwal (its readers returned nothing, its appends failed with ES503). The upgrade
    numbers that store's events in its log order and keeps its checkpoints."""
    dump = tmp_path / "release.dump"
    with stopped_cluster() as source:
        source.set_xid_epoch(1)
        source.start()
        with psycopg.connect(source.dsn(), autocommit=True) as conn:
            conn.execute("create database store")
        install_release(source.dsn("store"))
        with psycopg.connect(source.dsn("store"), autocommit=True) as writer:
            for n in range(3):
                append(writer, f"order-{n}", "Placed", "Paid")
            with psycopg.connect(source.dsn("store")) as older:
                older.execute("select pg_current_xact_id()")
                [newer_event] = append(writer, "invoice-1", "Issued")
                [older_event] = append(older, "invoice-2", "Issued")
                older.commit()
            append(writer, "order-0", "Shipped")
            released = release_read_all(writer)
            release_save_checkpoint(writer, "mid", position_of(writer, older_event))
            release_save_checkpoint(writer, "newer", position_of(writer, newer_event))
        dumped = subprocess.run(
            [tool("pg_dump"), "-Fc", "-f", str(dump), "-d", source.dsn("store")],
            capture_output=True,
            text=True,
            check=False,
        )
        assert dumped.returncode == 0, dumped.stderr

    with stopped_cluster() as target:
        target.start()
        with psycopg.connect(target.dsn(), autocommit=True) as conn:
            conn.execute("create database store")
            for role in ("eventstore_reader", "eventstore_writer", "eventstore_admin"):
                conn.execute(f"create role {role} nologin")
        dsn = target.dsn("store")
        restored = subprocess.run(
            [tool("pg_restore"), "--exit-on-error", "-d", dsn, str(dump)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert restored.returncode == 0, restored.stderr
        with psycopg.connect(dsn, autocommit=True) as conn:
            assert release_read_all(conn) == [], "the release's readers see nothing of the restored store"

        assert schema.migrate(dsn) == UPGRADE_MIGRATIONS

        with EventStore(dsn) as store:
            new = NewEvent("Placed", {"stream": "order-9"}, id=uuid.uuid4())
            store.append("order-9", [new])
            with psycopg.connect(dsn, autocommit=True) as conn:
                assert read_log(conn) == [*released, new.id]
            for name, event_id in (("mid", older_event), ("newer", newer_event)):
                delivered: list[RecordedEvent] = []
                Subscription(dsn, name, delivered.append).catch_up()
                assert [e.id for e in delivered] == [*released[released.index(event_id) + 1 :], new.id], name


def test_a_checkpoint_naming_no_event_stops_the_upgrade(release_dsn: str) -> None:
    """A checkpoint whose event was removed (eventstore.permit_event_change) has no place in
    the log: the upgrade refuses with ES404, changes nothing, and says how to move it."""
    dsn = release_dsn
    with psycopg.connect(dsn, autocommit=True) as conn:
        first, removed, _ = append(conn, "order-1", "Placed", "Paid", "Shipped")
        removed_position = position_of(conn, removed)
        release_save_checkpoint(conn, "mailer", removed_position)
        with conn.transaction():
            conn.execute("set local eventstore.permit_event_change = on")
            conn.execute("delete from eventstore.events where event_id = %s", (removed,))
    before = catalog(dsn)

    refused = cli("migrate", dsn=dsn)
    assert refused.returncode == 4, refused.stdout + refused.stderr
    assert (
        f"checkpoint 'mailer' names global position {removed_position}, which no event has" in refused.stderr
    )
    assert f"save_checkpoint('mailer', 0, expected => {removed_position})" in refused.stderr
    with pytest.raises(StreamNotFound):
        schema.migrate(dsn)
    assert catalog(dsn) == before
    assert ledger(dsn) == RELEASE_MIGRATIONS

    with psycopg.connect(dsn, autocommit=True) as conn:
        release_save_checkpoint(conn, "mailer", position_of(conn, first), expected=removed_position)
    assert schema.migrate(dsn) == UPGRADE_MIGRATIONS
    with EventStore(dsn) as store:
        assert store.load_checkpoint("mailer") == 1


def test_a_checkpoint_at_an_event_not_readable_yet_waits_for_the_older_transaction(release_dsn: str) -> None:
    """The release's save_checkpoint took any stored event's position, also one its readers
    did not return yet. While a transaction older than that event is open its log number is
    not known: the upgrade refuses with ES404; once it has ended, the checkpoint resumes
    after that event, as the release's reader would have."""
    dsn = release_dsn
    with psycopg.connect(dsn, autocommit=True) as conn, psycopg.connect(dsn) as older:
        [first] = append(conn, "order-1", "Placed")
        [slow] = append(older, "order-2", "Placed")
        [eager] = append(conn, "order-3", "Placed")
        release_save_checkpoint(conn, "eager", position_of(conn, eager))
        # Were it not refused, the upgrade would wait for the open transaction for ever.
        with pytest.raises(StreamNotFound, match="which is not readable yet"):
            schema.migrate(make_conninfo(dsn, options="-c lock_timeout=10s"))
        assert ledger(dsn) == RELEASE_MIGRATIONS
        older.commit()
    assert schema.migrate(dsn) == UPGRADE_MIGRATIONS
    with psycopg.connect(dsn, autocommit=True) as conn:
        assert read_log(conn) == [first, slow, eager]
        assert conn.execute("select eventstore.load_checkpoint('eager')").fetchone() == (3,)


def test_a_release_checkpoint_save_under_way_at_the_upgrade_is_refused(release_dsn: str) -> None:
    """A caller of the release's save_checkpoint waiting for the upgrade's lock finishes its
    call after the upgrade, writing a global position where a log number belongs. It fails
    at once (a checkpoint above 0 must name its event), or its checkpoint fails with ES419
    when loaded, never resuming silently from the wrong place. The upgrade runs here as
    migrate runs it: the pending migrations, then the function files, in one transaction."""
    dsn = release_dsn
    with psycopg.connect(dsn, autocommit=True) as conn:
        ids = append(conn, "order-1", "Placed", "Paid", "Shipped", "Delivered")
        positions = [position_of(conn, event_id) for event_id in ids]
        release_save_checkpoint(conn, "mid", positions[1])

    def release_save(name: str, position: int) -> None:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("select eventstore.save_checkpoint(%s, %s)", (name, position))

    with ThreadPoolExecutor(max_workers=2) as callers, psycopg.connect(dsn) as upgrade:
        for path in schema.migration_files():
            if path.stem not in RELEASE_MIGRATIONS:
                upgrade.execute(path.read_text(encoding="utf-8"))
        first_save = callers.submit(release_save, "late", positions[0])
        moving = callers.submit(release_save, "mid", positions[3])
        # The release's save_checkpoint first reads the events (log_cursor), which a later
        # migration may lock too (0013 changes their primary key), then the checkpoints.
        wait_for_lock_wait(dsn, ("eventstore.checkpoints", "eventstore.events"), sessions=2)
        for path in schema.function_files():
            upgrade.execute(path.read_text(encoding="utf-8"))
        upgrade.commit()
        with pytest.raises(psycopg.errors.CheckViolation):
            first_save.result(timeout=60)
        moving.result(timeout=60)

    with EventStore(dsn) as store:
        assert store.load_checkpoint("late") == 0
        with pytest.raises(LogDiverged):
            store.load_checkpoint("mid")
