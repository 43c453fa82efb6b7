"""Followers of the log survive a server restart and a failover (issue 17): pgeventstore.recovery.

On a private cluster stopped and started again while events are appended, a
Subscription, a Projection, their asyncio twins and ``pgeventstore tail`` all reconnect
and resume from their checkpoint (tail: from its cursor): the subscriptions get every
event, the projections apply each exactly once (a second application would break the
read model's primary key and stop them), tail and asyncio ``follow`` give every log
number once, in order; both variants of the bank example (examples/bank) run through a
restart with the right balances, every request stored once. On the session's server: a
terminated backend is waited out, and the errors the policy stops on (a handler's,
ES419, missing privileges, a missing schema, a lost connection of a store on one
connection) stop a follower at once. After a failover to a streaming standby of the
module's cluster, followers on a DSN naming both servers resume on the promoted one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from cluster_support import Clusters, clusters, create_store, execute, one, replayed, wait_for
from pgeventstore import (
    AsyncEventStore,
    AsyncProjection,
    AsyncSubscription,
    EventStore,
    NewEvent,
    Projection,
    ReconnectPolicy,
    RecordedEvent,
    Subscription,
)
from pgeventstore.async_subscription import follow
from pgeventstore.cluster import Cluster
from pgeventstore.errors import LogDiverged, ReadOnlyStore
from pgeventstore.recovery import retryable
from test_bank_example import expected, finish, projected, start

FAST = ReconnectPolicy(first_delay=0.05, max_delay=0.5)


def test_the_policy_retries_what_the_server_did_and_stops_on_what_the_caller_must_fix() -> None:
    assert retryable(psycopg.OperationalError("server closed the connection unexpectedly"))
    assert retryable(psycopg.errors.AdminShutdown())
    assert retryable(psycopg.errors.CannotConnectNow())
    assert retryable(psycopg.errors.SerializationFailure())
    assert retryable(psycopg.errors.DeadlockDetected())
    assert retryable(psycopg.errors.ConnectionFailure())
    assert not retryable(psycopg.errors.InsufficientPrivilege())
    assert not retryable(psycopg.errors.UndefinedFunction())
    assert not retryable(psycopg.errors.UniqueViolation())
    assert not retryable(ValueError("a handler's own failure"))
    assert not retryable(LogDiverged("diverged"))
    assert not retryable(ReadOnlyStore("standby"))
    policy = ReconnectPolicy(first_delay=0.1, max_delay=1.0, attempts=3)
    for retry, ceiling in [(1, 0.1), (2, 0.2), (3, 0.4), (4, 0.8), (5, 1.0), (50, 1.0), (5000, 1.0)]:
        assert all(ceiling / 2 <= policy.delay(retry) <= ceiling for _ in range(50))
    assert not policy.gives_up(3) and policy.gives_up(4)
    assert not ReconnectPolicy().gives_up(10**6)
    with pytest.raises(ValueError):
        ReconnectPolicy(first_delay=0)


def terminate_others(dsn: str) -> int:
    """Terminate every other backend of the database (57P01 admin_shutdown for them)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "select count(pg_terminate_backend(pid)) from pg_stat_activity "
            "where datname = current_database() and pid <> pg_backend_pid()"
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_a_subscription_waits_out_a_terminated_backend(dsn: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="pgeventstore.recovery")
    seen: list[uuid.UUID] = []
    with EventStore(dsn) as store:
        follower = Subscription(
            store, "terminated", lambda e: seen.append(e.id), poll_interval=0.05, reconnect=FAST
        )
        worker = threading.Thread(target=follower.run)
        worker.start()
        try:
            first = NewEvent("Happened", {"n": 1}, id=uuid.uuid4())
            store.append("s-1", [first])
            wait_for(lambda: seen == [first.id], "the first event")
            assert terminate_others(dsn) >= 1
            second = NewEvent("Happened", {"n": 2}, id=uuid.uuid4())
            store.append("s-1", [second])
            wait_for(lambda: seen[-1:] == [second.id], "the event after the termination", timeout=30)
            # The listener's loss may be noticed after the event came through another connection.
            wait_for(lambda: "reconnected after" in caplog.text, "a batch after the reconnection", timeout=30)
        finally:
            follower.stop()
            worker.join(timeout=30)
    assert not worker.is_alive()
    assert seen == [first.id, second.id]
    messages = [r.getMessage() for r in caplog.records if r.name == "pgeventstore.recovery"]
    assert any("Subscription 'terminated'" in m and "reconnecting in" in m for m in messages), messages
    assert any("reconnected after" in m for m in messages), messages


def diverge(dsn: str, position: int) -> None:
    """Make log number ``position`` name another event, as a failover that lost commits would."""
    execute(
        dsn,
        "begin",
        "set local eventstore.permit_event_change = on",
        f"update eventstore.log set event_id = gen_random_uuid() where log_number = {position}",
        "commit",
    )


def test_what_the_policy_stops_on_stops_a_follower_at_once(dsn: str, empty_dsn: str) -> None:
    def refuse(event: RecordedEvent) -> None:
        raise ValueError(f"cannot handle {event.type}")

    started = time.monotonic()
    with EventStore(dsn) as store:
        store.append("s-1", [NewEvent("Happened", {}) for _ in range(3)])
        with pytest.raises(ValueError, match="cannot handle Happened"):
            Subscription(store, "refusing", refuse, reconnect=FAST).run()
        assert store.load_checkpoint("refusing") == 0
        # A checkpoint whose log number names another event now: ES419, never retried.
        store.save_checkpoint("diverged", 2)
        store.save_checkpoint("diverged-projection", 2)
        diverge(dsn, 2)
        with pytest.raises(LogDiverged):
            Subscription(store, "diverged", lambda e: None, reconnect=FAST).run()
        with pytest.raises(LogDiverged):
            Projection(store, "diverged-projection", lambda conn, e: None, reconnect=FAST).run()
        with pytest.raises(LogDiverged):
            asyncio.run(AsyncSubscription(dsn, "diverged", lambda e: None, reconnect=FAST).run())
    # A store on one connection of the caller's: nothing can replace it once terminated.
    with psycopg.connect(dsn, autocommit=True) as own:
        single = EventStore(own)
        single.log_head()
        terminate_others(dsn)
        with pytest.raises(psycopg.OperationalError):
            Subscription(single, "single", lambda e: None, reconnect=FAST).run()
        assert single.connection_lost
        role = f"nobody_{uuid.uuid4().hex[:8]}"
    execute(dsn, f"create role {role} nologin")
    try:
        # A session whose role holds none of the store's roles (libpq's options= sets the role).
        unprivileged = f"{dsn} options='-c role={role}'"
        with EventStore(unprivileged) as store, pytest.raises(psycopg.errors.InsufficientPrivilege):
            Subscription(store, "no-privilege", lambda e: None, reconnect=FAST).run()
    finally:
        execute(dsn, f"drop role {role}")
    with EventStore(empty_dsn) as store, pytest.raises(psycopg.errors.InvalidSchemaName):
        Subscription(store, "no-schema", lambda e: None, reconnect=FAST).run()
    assert time.monotonic() - started < 10


# ---- a private cluster restarted under six followers ----

PROJECTED = "create table projected (follower text, event_id uuid, n int, primary key (follower, event_id))"


def sync_project(conn: psycopg.Connection[Any], event: RecordedEvent) -> None:
    conn.execute("insert into projected values ('sync', %s, %s)", (event.id, event.data["n"]))


async def async_project(conn: psycopg.AsyncConnection[Any], event: RecordedEvent) -> None:
    await conn.execute("insert into projected values ('async', %s, %s)", (event.id, event.data["n"]))


class Writer(threading.Thread):
    """Appends numbered events, one a batch, retrying a batch whose outcome is unknown with its ids."""

    def __init__(self, dsn: str) -> None:
        super().__init__()
        self.dsn = dsn
        self.appended: list[uuid.UUID] = []
        self.halt = threading.Event()
        self.failures = 0

    def run(self) -> None:
        with EventStore(self.dsn) as store:
            n = 0
            while not self.halt.is_set():
                event = NewEvent("Counted", {"n": n}, id=uuid.uuid4())
                deadline = time.monotonic() + 60
                while True:
                    try:
                        store.append(f"counter-{n % 5}", [event])
                        break
                    except psycopg.OperationalError:
                        self.failures += 1
                        if time.monotonic() > deadline:
                            raise
                        time.sleep(0.05)
                self.appended.append(event.id)
                n += 1
                time.sleep(0.005)


@pytest.fixture(scope="module")
def made() -> Iterator[Clusters]:
    with clusters() as made:
        yield made


@pytest.fixture(scope="module")
def restartable(made: Clusters) -> Cluster:
    """One private cluster for the module's restarts (a failover test stops it and starts it again)."""
    return made.primary("restarted")


def test_followers_and_tail_survive_a_server_restart(restartable: Cluster) -> None:
    dsn = create_store(restartable, "shop")
    execute(dsn, PROJECTED)
    delivered: dict[str, list[uuid.UUID]] = {"sync": [], "async": []}
    tail = subprocess.Popen(
        [sys.executable, "-m", "pgeventstore", "tail", "--dsn", dsn, "--poll-interval", "0.05"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    tailed: list[int] = []
    followed: list[int] = []
    tail_reader = threading.Thread(
        target=lambda: tailed.extend(int(line.split("\t")[0]) for line in tail.stdout or ())
    )
    tail_reader.start()
    writer = Writer(dsn)
    halt_async = threading.Event()
    async_failure: list[BaseException] = []

    async def async_followers() -> None:
        async with AsyncEventStore(dsn) as store:
            subscription = AsyncSubscription(
                store, "async", lambda e: delivered["async"].append(e.id), poll_interval=0.05, reconnect=FAST
            )
            projection = AsyncProjection(
                store, "async-projection", async_project, poll_interval=0.05, reconnect=FAST
            )

            async def follow_log() -> None:
                async for event in follow(store, 0, poll_interval=0.05, reconnect=FAST):
                    followed.append(event.log_number or 0)

            tasks = [asyncio.create_task(subscription.run()), asyncio.create_task(projection.run())]
            following = asyncio.create_task(follow_log())
            while not halt_async.is_set() and not any(task.done() for task in [*tasks, following]):
                await asyncio.sleep(0.02)
            subscription.stop()
            projection.stop()
            following.cancel()
            await asyncio.gather(*tasks)
            with contextlib.suppress(asyncio.CancelledError):
                await following

    def run_async() -> None:
        try:
            asyncio.run(async_followers())
        except BaseException as error:
            async_failure.append(error)

    with EventStore(dsn) as store:
        subscription = Subscription(
            store, "sync", lambda e: delivered["sync"].append(e.id), poll_interval=0.05, reconnect=FAST
        )
        projection = Projection(store, "sync-projection", sync_project, poll_interval=0.05, reconnect=FAST)
        failures: list[BaseException] = []

        def guarded(target: Any) -> threading.Thread:
            def run() -> None:
                try:
                    target()
                except BaseException as error:
                    failures.append(error)

            return threading.Thread(target=run)

        threads = [guarded(subscription.run), guarded(projection.run), threading.Thread(target=run_async)]
        for thread in threads:
            thread.start()
        writer.start()
        try:
            wait_for(lambda: len(delivered["sync"]) >= 20 and len(tailed) >= 20, "events before the restart")
            stopped_at = time.time()
            restartable.stop("fast")
            time.sleep(0.3)
            restartable.start()
            before = len(writer.appended)
            wait_for(lambda: len(writer.appended) >= before + 30, "appends after the restart")
        finally:
            writer.halt.set()
            writer.join(timeout=90)
        appended = writer.appended
        expected = set(appended)
        try:

            def caught_up() -> bool:
                with psycopg.connect(dsn) as conn:
                    rows = conn.execute(
                        "select follower, count(*) from projected group by follower"
                    ).fetchall()
                counts = dict(rows)
                return (
                    expected <= set(delivered["sync"])
                    and expected <= set(delivered["async"])
                    and counts.get("sync") == len(expected)
                    and counts.get("async") == len(expected)
                    and len(tailed) >= len(expected)
                    and len(followed) >= len(expected)
                ) or bool(failures or async_failure)

            wait_for(caught_up, "every follower to catch up after the restart", timeout=60)
        finally:
            subscription.stop()
            projection.stop()
            halt_async.set()
            for thread in threads:
                thread.join(timeout=60)
            tail.send_signal(signal.SIGINT)
            tail.wait(timeout=30)
            tail_reader.join(timeout=30)
    assert not failures and not async_failure, (failures, async_failure)
    with psycopg.connect(dsn) as conn:
        stored = {row[0] for row in conn.execute("select event_id from eventstore.events")}
        restarted_at = conn.execute("select extract(epoch from pg_postmaster_start_time())").fetchone()[0]
        projected = conn.execute(
            "select follower, count(*), sum(n) from projected group by follower order by follower"
        ).fetchall()
    assert restarted_at > stopped_at, "the server was restarted while events were appended"
    assert stored == expected
    total = sum(range(len(appended)))
    # Exactly once: as many rows as events (the primary key refuses a second one), the same sum.
    assert projected == [("async", len(expected), total), ("sync", len(expected), total)]
    # At least once: a batch whose checkpoint the restart kept from being saved comes again.
    assert set(delivered["sync"]) == expected and set(delivered["async"]) == expected
    assert tailed == list(range(1, len(expected) + 1)), "tail printed a log number twice or skipped one"
    assert followed == list(range(1, len(expected) + 1)), "follow gave a log number twice or skipped one"
    stderr = tail.stderr.read() if tail.stderr else ""
    assert tail.returncode == 130, stderr
    assert "reconnecting in" in stderr and all(
        line.startswith("pgeventstore: ") for line in stderr.splitlines()
    ), stderr


def test_the_bank_example_survives_a_server_restart_mid_run(restartable: Cluster) -> None:
    customers, rounds = 4, 15
    dsns = {
        script: create_store(restartable, f"bank_{script[4:-3]}")
        for script in ("run_sync.py", "run_async.py")
    }
    runs = {
        script: start(script, dsn, "--customers", str(customers), "--rounds", str(rounds), "--pause", "0.01")
        for script, dsn in dsns.items()
    }
    try:
        wait_for(
            lambda: all(one(dsn, "select count(*) from eventstore.events") >= 20 for dsn in dsns.values()),
            "both runs under way",
        )
        assert all(process.poll() is None for process in runs.values()), "a run ended before the restart"
        restartable.stop("fast")
        time.sleep(0.3)
        restartable.start()
        outputs = {script: finish(process) for script, process in runs.items()}
    finally:
        for process in runs.values():
            if process.poll() is None:
                process.kill()
                process.wait()
    balances, events, withdrawals = expected(customers, rounds)
    for script, dsn in dsns.items():
        assert projected(dsn) == balances, outputs[script]
        # Every request once, however often it was sent.
        assert one(dsn, "select count(*) from eventstore.events") == events
        assert one(dsn, "select count(*) from bank_alerts") == withdrawals


def test_followers_resume_on_the_promoted_standby_after_a_failover(
    made: Clusters, restartable: Cluster
) -> None:
    """A DSN naming both servers (target_session_attrs=read-write) finds the new primary."""
    primary = restartable
    create_store(primary, "failover")
    standby = made.standby(primary, "standby")
    try:
        both = make_conninfo(
            host="127.0.0.1,127.0.0.1",
            port=f"{primary.port},{standby.port}",
            user="postgres",
            dbname="failover",
            passfile=str(primary.passfile),
            target_session_attrs="read-write",
        )
        execute(both, PROJECTED)
        delivered: list[uuid.UUID] = []
        appended: list[uuid.UUID] = []
        with EventStore(both) as store:
            subscription = Subscription(
                store, "sync", lambda e: delivered.append(e.id), poll_interval=0.05, reconnect=FAST
            )
            projection = Projection(
                store, "sync-projection", sync_project, poll_interval=0.05, reconnect=FAST
            )
            failures: list[BaseException] = []

            def guarded(target: Any) -> None:
                try:
                    target()
                except BaseException as error:
                    failures.append(error)

            threads = [threading.Thread(target=guarded, args=(f.run,)) for f in (subscription, projection)]
            for thread in threads:
                thread.start()

            def append(count: int) -> None:
                for _ in range(count):
                    event = NewEvent("Counted", {"n": len(appended)}, id=uuid.uuid4())
                    store.append(f"counter-{len(appended) % 3}", [event])
                    appended.append(event.id)

            def projected() -> int:
                return int(one(both, "select count(*) from projected where follower = 'sync'"))

            try:
                append(20)
                wait_for(
                    lambda: (len(set(delivered)) == 20 and projected() == 20) or bool(failures), "20 events"
                )
                replayed(primary, standby)
                primary.stop("immediate")
                standby.promote()
                append(20)
                wait_for(
                    lambda: (len(set(delivered)) == 40 and projected() == 40) or bool(failures),
                    "the events appended after the failover",
                )
            finally:
                subscription.stop()
                projection.stop()
                for thread in threads:
                    thread.join(timeout=60)
        assert not failures, failures
        assert set(delivered) == set(appended)
        assert one(both, "select count(distinct event_id) from projected where follower = 'sync'") == 40
        assert one(both, "select inet_server_port()") == standby.port
    finally:
        # The module's cluster, for whatever runs after this test.
        if not primary.running:
            primary.start()
