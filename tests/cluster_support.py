"""Several real clusters for one test: primaries, streaming standbys, logical subscribers.

Every cluster listens on 127.0.0.1 (and a unix socket beside its data directory) only,
lives in one temporary directory and is stopped when the ``clusters()`` block ends,
whatever happened inside it.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import psycopg

from pgeventstore import schema
from pgeventstore.cluster import FAST_SETTINGS, Cluster, ClusterError

#: A primary that streaming standbys and logical subscribers can follow; durability off.
PRIMARY_SETTINGS: Mapping[str, str] = {
    **FAST_SETTINGS,
    "wal_level": "logical",
    "max_wal_senders": "10",
    "max_replication_slots": "10",
    # Standby readers' short queries are not cancelled for the replay of a vacuum.
    "hot_standby_feedback": "on",
}


class Clusters:
    """The clusters of one test, created in ``root``; :func:`clusters` stops them all."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.started: list[Cluster] = []

    def primary(self, name: str, *, xid_epoch: int = 0, settings: Mapping[str, str] | None = None) -> Cluster:
        """A new cluster, started; ``xid_epoch`` > 0 makes its transaction ids that much older."""
        cluster = Cluster(
            self.root / name / "data", settings=PRIMARY_SETTINGS if settings is None else settings
        )
        cluster.init()
        if xid_epoch:
            cluster.set_xid_epoch(xid_epoch)
        self._start(cluster)
        return cluster

    def standby(self, primary: Cluster, name: str) -> Cluster:
        """A hot standby streaming from ``primary`` (pg_basebackup -R), started and replaying."""
        standby = primary.standby(self.root / name / "data")
        self._start(standby)
        wait_for(
            lambda: one(standby.dsn(), "select count(*) from pg_stat_wal_receiver") == 1, "the walreceiver"
        )
        return standby

    def _start(self, cluster: Cluster) -> None:
        self.started.append(cluster)
        cluster.start()


@contextlib.contextmanager
def clusters() -> Iterator[Clusters]:
    """A :class:`Clusters` in a temporary directory; every cluster stopped, the directory removed."""
    root = Path(tempfile.mkdtemp(prefix="pgeventstore-replication-"))
    # Each cluster's server user (not root, see pgeventstore.cluster) must reach its folder.
    root.chmod(0o755)
    made = Clusters(root)
    try:
        yield made
    finally:
        for cluster in reversed(made.started):
            with contextlib.suppress(ClusterError):
                if cluster.running:
                    cluster.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)


def one(dsn: str, query: str, params: tuple[Any, ...] = ()) -> Any:
    """The first column of the first row of ``query``, run in autocommit on ``dsn``."""
    with connect(dsn) as conn:
        row = conn.execute(query, params).fetchone()
    assert row is not None
    return row[0]


def connect(dsn: str) -> psycopg.Connection[Any]:
    """An autocommit connection whose statements fail after a minute instead of hanging a test."""
    return psycopg.connect(dsn, autocommit=True, options="-c statement_timeout=60s")


def execute(dsn: str, *statements: str) -> None:
    """Run ``statements`` one by one in autocommit on ``dsn``."""
    with connect(dsn) as conn:
        for statement in statements:
            conn.execute(statement)


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 60) -> float:
    """Poll ``condition`` until true; return the seconds it took, fail after ``timeout``."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"waited {timeout} s for {what}")
        time.sleep(0.02)
    return time.monotonic() - started


def create_store(cluster: Cluster, dbname: str) -> str:
    """A new database ``dbname`` with the store installed (schema.migrate); its DSN."""
    with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
        conn.execute(f'create database "{dbname}"')
    dsn = cluster.dsn(dbname)
    schema.migrate(dsn)
    return dsn


def replayed(primary: Cluster, standby: Cluster) -> float:
    """Wait until ``standby`` has replayed everything ``primary`` has written so far.

    The insert position, not pg_current_wal_lsn (the write position): with
    synchronous_commit off a commit can be inserted and not written yet.
    """
    lsn = one(primary.dsn(), "select pg_current_wal_insert_lsn()::text")
    return wait_for(
        lambda: bool(one(standby.dsn(), "select pg_last_wal_replay_lsn() >= %s::pg_lsn", (lsn,))),
        f"the standby to replay up to {lsn}",
    )
