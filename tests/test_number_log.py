"""eventstore.number_log on a logical subscriber of the event log numbers nothing.

number_log asks whether the database subscribes to the log only when it has something to
number (the catalog query is planned anew on every call, and a polling reader calls it
on every read). These tests pin what that order must keep: a subscriber's readers read
the publisher's numbers, whether their session first called number_log before the
subscription existed or after, and never number the replicated events themselves.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from pgeventstore import schema
from pgeventstore.cluster import FAST_SETTINGS, Cluster, temporary_cluster


@pytest.fixture(scope="module")
def logical_cluster() -> Iterator[Cluster]:
    """A cluster that can publish by logical replication (wal_level = logical)."""
    with temporary_cluster(settings={**FAST_SETTINGS, "wal_level": "logical"}) as cluster:
        yield cluster


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 60
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def count(dsn: str, query: str) -> int:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(query).fetchone()
    assert row is not None
    return int(row[0])


def test_a_subscriber_numbers_nothing_and_reads_the_publishers_numbers(logical_cluster: Cluster) -> None:
    with psycopg.connect(logical_cluster.dsn(), autocommit=True) as admin:
        admin.execute("create database pub")
        admin.execute("create database sub")
    pub, sub = logical_cluster.dsn("pub"), logical_cluster.dsn("sub")
    schema.migrate(pub)
    schema.migrate(sub)
    append = 'select eventstore.append_to_stream(%s, -1, \'[{"type": "T", "data": {}}]\')'
    read = "select log_number, stream_id from eventstore.read_all(0, 100)"
    with (
        psycopg.connect(pub, autocommit=True) as publisher,
        psycopg.connect(sub, autocommit=True) as early,
    ):
        for stream in ("a", "b", "c"):
            publisher.execute(append, (stream,))
        assert publisher.execute("select eventstore.number_log()").fetchone() == (3,)
        publisher.execute("create publication log for table eventstore.events, eventstore.log")
        # A subscriber's reader whose session numbered (nothing) before the subscription.
        assert early.execute("select eventstore.number_log()").fetchone() == (0,)

        # Both databases are in one cluster: the slot is made apart, as CREATE
        # SUBSCRIPTION cannot create it in its own cluster.
        publisher.execute("select pg_create_logical_replication_slot('log_sub', 'pgoutput')")
        # The subscription's connection is the server's own: it cannot read the passfile.
        params = conninfo_to_dict(pub)
        params.pop("passfile")
        params["password"] = logical_cluster.passfile.read_text().strip().rsplit(":", 1)[1]
        connection = make_conninfo(**params)  # type: ignore[arg-type]
        with psycopg.connect(sub, autocommit=True) as admin:
            admin.execute(
                f"create subscription log_sub connection '{connection}' publication log "
                "with (create_slot = false, slot_name = 'log_sub')"
            )
        try:
            wait_for(lambda: count(sub, "select count(*) from eventstore.log") == 3, "the initial copy")
            # Committed on the publisher, not numbered there yet: readable on the subscriber
            # (one cluster, one transaction id space), but not the subscriber's to number.
            publisher.execute(append, ("d",))
            publisher.execute(append, ("e",))
            wait_for(lambda: count(sub, "select count(*) from eventstore.events") == 5, "the new events")
            assert early.execute("select eventstore.number_log()").fetchone() == (0,)
            with psycopg.connect(sub, autocommit=True) as late:
                assert late.execute("select eventstore.number_log()").fetchone() == (0,)
                rows = late.execute(read).fetchall()
            assert rows == [(1, "a"), (2, "b"), (3, "c")]

            assert publisher.execute("select eventstore.number_log()").fetchone() == (2,)
            wait_for(lambda: count(sub, "select count(*) from eventstore.log") == 5, "its numbers")
            rows = early.execute(read).fetchall()
            assert rows == [(1, "a"), (2, "b"), (3, "c"), (4, "d"), (5, "e")]
        finally:
            with psycopg.connect(sub, autocommit=True) as admin:
                admin.execute("drop subscription log_sub")
