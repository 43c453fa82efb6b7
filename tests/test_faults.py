"""Load and faults (issue 7): concurrent writers with rollbacks, a server killed with
SIGKILL during batched appends, and a connection lost in the middle of an append.

Invariants checked after each (and, after the crash, that a subscriber resuming from
its checkpoint processes every stored event exactly once): every stream's versions are 0..n with no gap and no
duplicate; every acknowledged append is stored, whole, at consecutive versions; every
rejected or rolled-back one is absent; an append whose outcome is unknown (the connection
died) is whole or absent, and retrying it with the same event ids stores it exactly once.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import random
import shutil
import signal
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from pgeventstore import schema
from pgeventstore.cluster import Cluster, ClusterError
from pgeventstore.store import EventStore
from pgeventstore.values import NewEvent

APPEND = "select stream_version from eventstore.append_to_stream(%s::text, %s::bigint, %s::jsonb)"


@dataclasses.dataclass(frozen=True)
class Batch:
    stream_id: str
    ids: tuple[uuid.UUID, ...]

    def payload(self) -> str:
        return json.dumps(
            [{"type": "Happened", "data": {"n": n}, "id": str(i)} for n, i in enumerate(self.ids)]
        )

    def events(self) -> list[NewEvent]:
        return [NewEvent("Happened", {"n": n}, id=i) for n, i in enumerate(self.ids)]


@dataclasses.dataclass
class Outcomes:
    """What the clients learned: acknowledged batches (with the version returned), refused
    or rolled-back ones, and ones whose fate the client could not learn."""

    acked: list[tuple[Batch, int]] = dataclasses.field(default_factory=list)
    absent: list[Batch] = dataclasses.field(default_factory=list)
    unknown: list[Batch] = dataclasses.field(default_factory=list)
    unexpected: list[str] = dataclasses.field(default_factory=list)
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)


def stored_events(dsn: str, prefix: str) -> dict[str, list[tuple[int, uuid.UUID]]]:
    """Every stored (version, event id) per stream whose id starts with ``prefix``."""
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "select stream_id, version, event_id from eventstore.events "
            "where stream_id like %s order by stream_id, version",
            (prefix + "%",),
        ).fetchall()
        stream_versions = dict(
            conn.execute(
                "select stream_id, eventstore.stream_version(stream_id) from eventstore.events"
                " where stream_id like %s and version = 0",
                (prefix + "%",),
            ).fetchall()
        )
    streams: dict[str, list[tuple[int, uuid.UUID]]] = {}
    for stream_id, version, event_id in rows:
        streams.setdefault(stream_id, []).append((version, event_id))
    for stream_id, events in streams.items():
        assert [v for v, _ in events] == list(range(len(events))), f"gap or duplicate in {stream_id}"
        assert stream_versions[stream_id] == len(events) - 1, f"stream_version of {stream_id} disagrees"
    assert set(stream_versions) == set(streams), "a stream without a first event"
    return streams


def check_invariants(dsn: str, prefix: str, outcomes: Outcomes) -> None:
    assert not outcomes.unexpected, outcomes.unexpected
    streams = stored_events(dsn, prefix)
    where = {
        event_id: (stream_id, version) for stream_id, evs in streams.items() for version, event_id in evs
    }
    for batch, last_version in outcomes.acked:
        first = last_version - len(batch.ids) + 1
        expected = [(batch.stream_id, first + n) for n in range(len(batch.ids))]
        assert [where.get(i) for i in batch.ids] == expected, f"acknowledged batch not stored whole: {batch}"
    for batch in outcomes.absent:
        assert not any(i in where for i in batch.ids), f"refused or rolled-back batch stored: {batch}"
    for batch in outcomes.unknown:
        found = [where.get(i) for i in batch.ids]
        if found[0] is None:
            assert all(f is None for f in found), f"batch stored in part: {batch}"
        else:
            first_version = found[0][1]
            assert found == [(batch.stream_id, first_version + n) for n in range(len(batch.ids))], batch
    known = {i for b, _ in outcomes.acked for i in b.ids} | {i for b in outcomes.unknown for i in b.ids}
    assert set(where) <= known, "an event nobody appended is stored"


# ---- 16 writers, one hot stream and many cold ones, random expectations and rollbacks ----


def torture(dsn: str, writers: int, appends_each: int, cold_streams: int, seed: int) -> tuple[str, Outcomes]:
    prefix = f"t{uuid.uuid4().hex[:8]}"
    hot = f"{prefix}-hot"
    cold = [f"{prefix}-cold{n}" for n in range(cold_streams)]
    outcomes = Outcomes()
    start = threading.Barrier(writers)

    def writer(number: int) -> None:
        rng = random.Random(seed * 1000 + number)
        with psycopg.connect(dsn, autocommit=True) as conn:
            start.wait()
            for _ in range(appends_each):
                stream = hot if rng.random() < 0.5 else rng.choice(cold)
                batch = Batch(stream, tuple(uuid.uuid4() for _ in range(rng.randint(1, 3))))
                row = conn.execute("select eventstore.stream_version(%s)", (stream,)).fetchone()
                assert row is not None
                seen = row[0]
                expected = rng.choice([None, seen, seen, seen, seen - 1, seen + 1, -1, -2])
                roll_back = rng.random() < 0.2
                try:
                    with conn.transaction():
                        result = conn.execute(APPEND, (stream, expected, batch.payload())).fetchone()
                        assert result is not None
                        if roll_back:
                            raise psycopg.Rollback()
                except psycopg.Error as error:
                    with outcomes.lock:
                        if error.sqlstate == "ES409":
                            outcomes.absent.append(batch)
                        else:
                            outcomes.unexpected.append(f"{error.sqlstate}: {error}")
                    continue
                with outcomes.lock:
                    if roll_back:
                        outcomes.absent.append(batch)
                    else:
                        outcomes.acked.append((batch, result[0]))

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return prefix, outcomes


def test_sixteen_writers_hot_and_cold_streams(dsn: str) -> None:
    prefix, outcomes = torture(dsn, writers=16, appends_each=25, cold_streams=30, seed=1)
    check_invariants(dsn, prefix, outcomes)
    assert len(outcomes.acked) > 50 and len(outcomes.absent) > 20, "the mix exercised both paths"


@pytest.mark.soak
def test_sixteen_writers_soak(dsn: str) -> None:
    prefix, outcomes = torture(dsn, writers=16, appends_each=600, cold_streams=200, seed=2)
    check_invariants(dsn, prefix, outcomes)


# ---- kill -9 of the server during batched appends ----


@contextlib.contextmanager
def durable_cluster() -> Iterator[Cluster]:
    """A private cluster with PostgreSQL's durable defaults (fsync and synchronous_commit on)."""
    root = Path(tempfile.mkdtemp(prefix="pgeventstore-crash-"))
    cluster = Cluster(root / "data", settings={})
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        with contextlib.suppress(ClusterError):
            cluster.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)


def crash(cluster: Cluster) -> None:
    """SIGKILL the postmaster and then every process it had started: the whole server dies
    at once, as on a power cut (what reached the disk with fsync stays)."""
    postmaster = int((cluster.data_dir / "postmaster.pid").read_text().split()[0])
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == postmaster:
                    children.append(int(entry.name))
    cluster.kill()
    for pid in children:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def restart(cluster: Cluster) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            cluster.start()
            return
        except ClusterError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def append_until_the_server_dies(
    dsn: str, prefix: str, clients: int, outcomes: Outcomes
) -> list[threading.Thread]:
    def client(number: int) -> None:
        rng = random.Random(number)
        try:
            conn = psycopg.connect(dsn, autocommit=True)
        except psycopg.OperationalError:
            return
        with conn:
            while True:
                stream = f"{prefix}-{rng.randrange(6)}"
                batch = Batch(stream, tuple(uuid.uuid4() for _ in range(rng.randint(2, 20))))
                try:
                    row = conn.execute(APPEND, (stream, None, batch.payload())).fetchone()
                except psycopg.OperationalError:
                    with outcomes.lock:
                        outcomes.unknown.append(batch)
                    return
                except psycopg.Error as error:
                    with outcomes.lock:
                        outcomes.unexpected.append(f"{error.sqlstate}: {error}")
                    return
                assert row is not None
                with outcomes.lock:
                    outcomes.acked.append((batch, row[0]))

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    return threads


def subscribe_once(conn: psycopg.Connection) -> int:
    """One step of a subscriber: read the global log after its checkpoint and record the
    events it processed in the same transaction as the new checkpoint. Returns how many."""
    with conn.transaction():
        row = conn.execute("select eventstore.load_checkpoint('crash-subscriber')").fetchone()
        assert row is not None
        page = conn.execute(
            "select log_number, event_id from eventstore.read_all(%s, 200)", (row[0],)
        ).fetchall()
        if page:
            with conn.cursor() as cur:
                cur.executemany("insert into processed (event_id) values (%s)", [(e,) for _, e in page])
            conn.execute("select eventstore.save_checkpoint('crash-subscriber', %s)", (page[-1][0],))
    return len(page)


def subscriber_until_the_server_dies(dsn: str, outcomes: Outcomes) -> threading.Thread:
    def run() -> None:
        try:
            conn = psycopg.connect(dsn)
        except psycopg.OperationalError:
            return
        with conn:
            while True:
                try:
                    if not subscribe_once(conn):
                        time.sleep(0.01)
                except psycopg.OperationalError:
                    return
                except psycopg.Error as error:
                    with outcomes.lock:
                        outcomes.unexpected.append(f"subscriber: {error.sqlstate}: {error}")
                    return

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def check_subscriber_caught_up(dsn: str) -> None:
    """Resumed from its checkpoint, the subscriber processed every stored event exactly once
    (processed.event_id is a primary key, so a second delivery would have failed)."""
    with psycopg.connect(dsn) as conn:
        while subscribe_once(conn):
            pass
        missing = conn.execute(
            "select count(*) from eventstore.events e where not exists "
            "(select from processed p where p.event_id = e.event_id)"
        ).fetchone()
        extra = conn.execute(
            "select count(*) from processed p where not exists "
            "(select from eventstore.events e where e.event_id = p.event_id)"
        ).fetchone()
    assert missing == (0,) and extra == (0,), "the subscriber lost or invented events"


def crash_rounds(rounds: int, clients: int, acks_per_round: int) -> None:
    with durable_cluster() as cluster:
        with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
            conn.execute("create database crash")
        dsn = cluster.dsn("crash")
        schema.migrate(dsn)
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("create table processed (event_id uuid primary key)")
        prefix = "crash"
        outcomes = Outcomes()
        for _ in range(rounds):
            before = len(outcomes.acked)
            threads = append_until_the_server_dies(dsn, prefix, clients, outcomes)
            threads.append(subscriber_until_the_server_dies(dsn, outcomes))
            deadline = time.monotonic() + 30
            while len(outcomes.acked) < before + acks_per_round and time.monotonic() < deadline:
                time.sleep(0.01)
            crash(cluster)
            for thread in threads:
                thread.join(timeout=60)
            restart(cluster)
            check_invariants(dsn, prefix, outcomes)
            check_subscriber_caught_up(dsn)
        assert len(outcomes.acked) >= rounds * acks_per_round
        assert outcomes.unknown, "the crash hit appends in flight"
        # A client that lost its connection retries with the same ids: stored exactly once.
        with EventStore(dsn) as store:
            for batch in outcomes.unknown:
                result = store.append(batch.stream_id, batch.events())
                outcomes.acked.append((batch, result.stream_version))
        outcomes.unknown.clear()
        check_invariants(dsn, prefix, outcomes)
        check_subscriber_caught_up(dsn)


def test_kill_9_during_batched_appends() -> None:
    crash_rounds(rounds=2, clients=4, acks_per_round=40)


@pytest.mark.soak
def test_kill_9_soak() -> None:
    crash_rounds(rounds=10, clients=8, acks_per_round=500)


# ---- a connection lost in the middle of an append through the Python wrapper ----


class CuttingProxy:
    """A TCP proxy to the server that, once armed, drops the next chunk sent in one
    direction and closes both sides: the request never arrives ("request"), or the server
    executed and committed it but the client never hears back ("response")."""

    def __init__(self, port: int) -> None:
        self.port_to = port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.armed: str | None = None
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.port_to))
            threading.Thread(target=self._pump, args=(client, server, "request"), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, "response"), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, direction: str) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                with self.lock:
                    cut = self.armed == direction
                    if cut:
                        self.armed = None
                if cut:
                    break
                sink.sendall(data)
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def close(self) -> None:
        self.listener.close()


@pytest.mark.parametrize("cut", ["request", "response"])
def test_connection_lost_mid_append_then_retry_is_idempotent(dsn: str, cut: str) -> None:
    params = psycopg.conninfo.conninfo_to_dict(dsn)
    proxy = CuttingProxy(int(str(params["port"])))
    proxied = psycopg.conninfo.make_conninfo(dsn, host="127.0.0.1", port=str(proxy.port))
    events = [NewEvent("Placed", {"total": 10}, id=uuid.uuid4()), NewEvent("Paid", {}, id=uuid.uuid4())]
    try:
        with EventStore(dsn) as direct:
            direct.append("order-1", [NewEvent("Opened", {})])
        with psycopg.connect(proxied, autocommit=True) as conn:
            proxy.armed = cut
            with pytest.raises(psycopg.OperationalError):
                EventStore(conn).append("order-1", events, expected_version=0)
        with EventStore(dsn) as direct:
            committed = len(direct.read_stream("order-1")) == 3
        assert committed == (cut == "response"), "the cut fell where intended"
        with psycopg.connect(proxied, autocommit=True) as conn:
            retried = EventStore(conn).append("order-1", events, expected_version=0)
        assert retried.stream_version == 2
        with EventStore(dsn) as direct:
            stored = direct.read_stream("order-1")
            assert [e.id for e in stored[1:]] == [e.id for e in events]
            assert len(stored) == 3
            # A second retry, e.g. by a client that also missed the retry's answer.
            assert direct.append("order-1", events, expected_version=0) == retried
    finally:
        proxy.close()
