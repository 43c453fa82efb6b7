"""The Python side of the global log: iterators, Subscription, AsyncSubscription, Projection."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner

from pgeventstore import (
    AsyncEventStore,
    AsyncProjection,
    AsyncSubscription,
    EventStore,
    InvalidArgument,
    NewEvent,
    RecordedEvent,
)
from pgeventstore.cli import main
from pgeventstore.examples.order_projection import (
    PROJECTION_NAME,
    build_orders_by_status,
    orders_projection,
    rebuild_orders_by_status,
)
from pgeventstore.subscription import ConsumerGroup, LogFilter, Projection, Subscription

ROOT = Path(__file__).resolve().parent.parent


def place_orders(store: EventStore, count: int, start: int = 0) -> None:
    """Orders start..start+count-1: every one placed, every third shipped, every fifth cancelled."""
    for n in range(start, start + count):
        events = [NewEvent("OrderPlaced", {"n": n})]
        if n % 3 == 0:
            events.append(NewEvent("OrderShipped", {"n": n}))
        elif n % 5 == 0:
            events.append(NewEvent("OrderCancelled", {"n": n}))
        store.append(f"order-{n}", events)


def expected_counts(count: int) -> dict[str, int]:
    statuses = Counter(
        "shipped" if n % 3 == 0 else "cancelled" if n % 5 == 0 else "placed" for n in range(count)
    )
    return dict(sorted(statuses.items()))


def test_store_iterators_read_the_log_in_order(dsn: str) -> None:
    with EventStore(dsn) as store:
        store.append("order-1", [NewEvent("OrderPlaced", {"n": 1})])
        store.append("cart-1", [NewEvent("ItemAdded", {"n": 2})])
        store.append("order-1", [NewEvent("OrderShipped", {"n": 3})])
        everything = list(store.read_all(page_size=2))
        assert [e.data["n"] for e in everything] == [1, 2, 3]
        assert [e.log_number for e in everything] == [1, 2, 3]
        assert [e.data["n"] for e in store.read_all(everything[0].log_number or 0)] == [2, 3]
        assert [e.data["n"] for e in store.read_all(category="order")] == [1, 3]
        assert [e.data["n"] for e in store.read_all(event_types=["ItemAdded"])] == [2]
        assert [e.data["n"] for e in store.read_category("order")] == [1, 3]
        shares = [list(store.read_category("order", group=ConsumerGroup(m, 2))) for m in range(2)]
        assert sorted(e.data["n"] for share in shares for e in share) == [1, 3]
        assert [e.data["n"] for e in store.read_all(-5)] == [1, 2, 3], "any integer is a bound"
        assert list(store.read_all(41)) == []
        with pytest.raises(InvalidArgument):
            list(store.read_all(page_size=0))


def test_store_checkpoint_methods(dsn: str) -> None:
    with EventStore(dsn) as store:
        result = store.append("order-1", [NewEvent("OrderPlaced", {})])
        assert store.load_checkpoint("s") == 0
        assert store.save_checkpoint("s", result.last_position, 0)
        assert not store.save_checkpoint("s", result.last_position, 0)
        assert store.load_checkpoint("s") == result.last_position
        (lag,) = store.subscription_lag()
        assert (lag.subscription, lag.position, lag.events_behind) == ("s", result.last_position, 0)


def test_subscription_delivers_at_least_once_across_a_failing_handler(dsn: str) -> None:
    with EventStore(dsn) as store:
        place_orders(store, 30)
        total = len(list(store.read_all()))
    delivered: list[RecordedEvent] = []
    failures = {12}

    def handler(event: RecordedEvent) -> None:
        if len(delivered) in failures:
            failures.clear()
            raise RuntimeError("handler crashed")
        delivered.append(event)

    subscription = Subscription(dsn, "mailer", handler, batch_size=10)
    with pytest.raises(RuntimeError):
        subscription.catch_up()
    assert len(delivered) == 12
    assert subscription.catch_up() == total - 10  # the failed batch (events 10-19) comes again
    ids = [e.id for e in delivered]
    with EventStore(dsn) as store:
        assert set(ids) == {e.id for e in store.read_all()}
    assert len(ids) - len(set(ids)) == 2, "exactly the two handled events of the failed batch repeat"
    assert subscription.catch_up() == 0


def test_new_subscription_instances_resume_after_the_saved_checkpoint(dsn: str) -> None:
    with EventStore(dsn) as store:
        place_orders(store, 4)
        first: list[RecordedEvent] = []
        assert Subscription(dsn, "resume", first.append, batch_size=4).catch_up() == len(
            list(store.read_all())
        )
        place_orders(store, 2, start=4)
        later: list[RecordedEvent] = []
        assert Subscription(dsn, "resume", later.append).catch_up() == 3
        place_orders(store, 1, start=6)
        resumed: list[RecordedEvent] = []
        assert asyncio.run(AsyncSubscription(dsn, "resume", resumed.append).catch_up()) == 2
        everything = list(store.read_all())
        assert [e.id for e in first + later + resumed] == [e.id for e in everything]
        assert store.load_checkpoint("resume") == everything[-1].log_number


def test_subscription_follows_live_with_notify_wake_up(dsn: str) -> None:
    received = threading.Event()
    subscription = Subscription(dsn, "live", lambda e: received.set(), poll_interval=30)
    thread = threading.Thread(target=subscription.run)
    thread.start()
    try:
        time.sleep(0.5)  # let it catch up (nothing) and start waiting on LISTEN
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("set eventstore.notify = 'on'")
            conn.execute("""select eventstore.append_event('order-1', null, 'OrderPlaced', '{}')""")
        assert received.wait(10), "the NOTIFY did not wake the subscription"
    finally:
        subscription.stop()
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("notify eventstore")  # end the 30 s wait now
        thread.join(10)
    assert not thread.is_alive()


def test_subscription_follows_live_by_polling(dsn: str) -> None:
    seen: list[RecordedEvent] = []
    subscription = Subscription(dsn, "poller", seen.append, poll_interval=0.05, listen=False)
    thread = threading.Thread(target=subscription.run)
    thread.start()
    try:
        with EventStore(dsn) as store:
            place_orders(store, 5)
            deadline = time.monotonic() + 10
            while len(seen) < 7 and time.monotonic() < deadline:
                time.sleep(0.02)
    finally:
        subscription.stop()
        thread.join(5)
    assert not thread.is_alive()
    assert [e.stream_id for e in seen][:2] == ["order-0", "order-0"]
    assert len(seen) == 7


def test_async_subscription(dsn: str) -> None:
    with EventStore(dsn) as store:
        place_orders(store, 3)

    async def main() -> list[str]:
        seen: list[str] = []

        async def handler(event: RecordedEvent) -> None:
            seen.append(event.type)

        subscription = AsyncSubscription(
            dsn, "async", handler, log_filter=LogFilter(event_types=["OrderShipped"]), poll_interval=0.05
        )
        task = asyncio.create_task(subscription.run())
        for _ in range(200):
            if seen:
                break
            await asyncio.sleep(0.02)
        subscription.stop()
        await asyncio.wait_for(task, 5)
        assert await subscription.catch_up() == 0
        return seen

    assert asyncio.run(main()) == ["OrderShipped"]


def test_async_subscription_follows_live_with_notify_wake_up(dsn: str) -> None:
    async def main() -> list[str]:
        seen: list[str] = []

        async def handler(event: RecordedEvent) -> None:
            seen.append(event.stream_id)

        subscription = AsyncSubscription(dsn, "async-live", handler, poll_interval=30)
        task = asyncio.create_task(subscription.run())
        async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
            await conn.execute("select eventstore.append_event('order-1', null, 'OrderPlaced', '{}')")
            for _ in range(500):  # caught up: it now waits on LISTEN (or a 30 s poll)
                if seen:
                    break
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.3)
            await conn.execute("set eventstore.notify = 'on'")
            await conn.execute("select eventstore.append_event('order-2', null, 'OrderPlaced', '{}')")
            for _ in range(500):
                if len(seen) == 2:
                    break
                await asyncio.sleep(0.02)
            subscription.stop()
            await conn.execute("notify eventstore")  # end the 30 s wait now
            await asyncio.wait_for(task, 10)
        return seen

    assert asyncio.run(main()) == ["order-1", "order-2"], "the NOTIFY did not wake the async subscription"


def test_projection_example_counts_and_rebuild(dsn: str) -> None:
    with EventStore(dsn) as store:
        place_orders(store, 40)
        assert build_orders_by_status(dsn) == expected_counts(40)
        place_orders(store, 20, start=40)
        assert build_orders_by_status(dsn) == expected_counts(60)
    with psycopg.connect(dsn, autocommit=True) as conn:
        live = conn.execute("select * from order_status order by order_id").fetchall()
        assert rebuild_orders_by_status(dsn) == expected_counts(60)
        rebuilt = conn.execute("select * from order_status order by order_id").fetchall()
    assert rebuilt == live, "the projection rebuilt from zero differs from the live one"
    assert build_orders_by_status(dsn) == expected_counts(60)


def test_projection_failing_mid_batch_applies_nothing_of_it(dsn: str) -> None:
    with EventStore(dsn) as store:
        place_orders(store, 30)
    build_orders_by_status(dsn)  # creates the table
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("truncate order_status")
        conn.execute(
            "select eventstore.save_checkpoint(%s, 0, eventstore.load_checkpoint(%s))", (PROJECTION_NAME,) * 2
        )
    projection = orders_projection(dsn)
    calls = 0

    def crashing(conn: psycopg.Connection[object], event: RecordedEvent) -> None:
        nonlocal calls
        calls += 1
        if calls == 15:
            raise RuntimeError("crash")
        projection_handler(conn, event)

    projection_handler = projection.handler
    projection.handler = crashing
    projection.batch_size = 20
    with pytest.raises(RuntimeError):
        projection.catch_up()
    with psycopg.connect(dsn, autocommit=True) as conn:
        assert conn.execute("select count(*) from order_status").fetchone() == (0,)
        assert conn.execute("select eventstore.load_checkpoint(%s)", (PROJECTION_NAME,)).fetchone() == (0,)
    assert build_orders_by_status(dsn) == expected_counts(30)


def test_projection_killed_mid_batch_keeps_exactly_once_effect(dsn: str) -> None:
    with EventStore(dsn) as store:
        place_orders(store, 200)
    build_orders_by_status(dsn)  # creates the read model, then reset it to count again
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("truncate order_status")
        conn.execute("create table applied (event_id uuid not null)")
        conn.execute(
            "select eventstore.save_checkpoint(%s, 0, eventstore.load_checkpoint(%s))", (PROJECTION_NAME,) * 2
        )
    # A slow projection in another process that also records every event it applies.
    script = textwrap.dedent(
        """
        import sys, time
        from pgeventstore.examples.order_projection import apply_order_event, orders_projection

        def slow(conn, event):
            apply_order_event(conn, event)
            conn.execute("insert into applied values (%s)", (event.id,))
            time.sleep(0.01)

        projection = orders_projection(sys.argv[1])
        projection.handler = slow
        projection.batch_size = 50
        print("started", flush=True)
        projection.catch_up()
        """
    )
    with (
        psycopg.connect(dsn, autocommit=True) as conn,
        subprocess.Popen(
            [sys.executable, "-c", script, dsn], stdout=subprocess.PIPE, text=True, cwd=ROOT
        ) as child,
    ):
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "started"
        # Kill it once its first batch has committed: the second is then in flight.
        deadline = time.monotonic() + 60
        while conn.execute("select count(*) from applied").fetchone() == (0,) and time.monotonic() < deadline:
            time.sleep(0.02)
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        done = conn.execute("select count(*) from applied").fetchone()
        total = conn.execute("select count(*) from eventstore.read_category('order', 0, 100000)").fetchone()
        assert done is not None and total is not None
        assert 0 < done[0] < total[0], "the child was killed mid-run, after its first batch"
        assert done[0] % 50 == 0, "only whole batches committed"
    projection = orders_projection(dsn)
    original = projection.handler

    def recording(conn: psycopg.Connection[object], event: RecordedEvent) -> None:
        original(conn, event)
        conn.execute("insert into applied values (%s)", (event.id,))

    projection.handler = recording
    projection.catch_up()
    with psycopg.connect(dsn, autocommit=True) as conn:
        duplicates = conn.execute(
            "select count(*) from (select event_id from applied group by event_id having count(*) > 1) d"
        ).fetchone()
        assert duplicates == (0,), "an event's effect was applied twice"
        applied = conn.execute("select count(*) from applied").fetchone()
        relevant = conn.execute(
            "select count(*) from eventstore.read_category('order', 0, 100000)"
        ).fetchone()
        assert applied == relevant
    assert build_orders_by_status(dsn) == expected_counts(200)


def test_two_projection_instances_race_without_double_counting(dsn: str) -> None:
    with EventStore(dsn) as store:
        place_orders(store, 150)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("create table tally (event_id uuid primary key)")

    def count(conn: psycopg.Connection[object], event: RecordedEvent) -> None:
        # A primary key violation here would mean an event applied twice.
        conn.execute("insert into tally values (%s)", (event.id,))

    instances = [Projection(dsn, "tally", count, batch_size=7) for _ in range(3)]
    threads = [threading.Thread(target=p.catch_up) for p in instances]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with psycopg.connect(dsn, autocommit=True) as conn:
        assert conn.execute("select count(*) from tally").fetchone() == (
            len(list(EventStore(conn).read_all())),
        )


def test_cli_tail_and_subscriptions(dsn: str) -> None:
    with EventStore(dsn) as store:
        place_orders(store, 3)
        store.append("cart-1", [NewEvent("ItemAdded", {"sku": "x"})])
        store.save_checkpoint("mailer", next(iter(store.read_all())).log_number or 0)
    runner = CliRunner()
    env = {"PGEVENTSTORE_DSN": dsn}
    result = runner.invoke(main, ["tail", "--no-follow", "--category", "cart"], env=env)
    assert result.exit_code == 0, result.output
    assert result.output.split("\t")[1:] == ["cart-1@0", "ItemAdded", '{"sku": "x"}\n']
    result = runner.invoke(main, ["tail", "--no-follow"], env=env)
    assert len(result.output.splitlines()) == 5
    result = runner.invoke(main, ["tail", "--no-follow", "--from", "999999"], env=env)
    assert (result.exit_code, result.output) == (0, ""), "a bound beyond the head reads nothing yet"
    assert runner.invoke(main, ["tail", "--no-follow", "--category", "a-b"], env=env).exit_code == 6
    assert runner.invoke(main, ["tail", "--from", "-1"], env=env).exit_code == 2
    result = runner.invoke(main, ["subscriptions"], env=env)
    assert result.exit_code == 0
    assert result.output.splitlines()[1].split() == ["mailer", "1", "4", "0", "-"]


def test_cli_tail_follows_until_interrupted(dsn: str) -> None:
    with subprocess.Popen(
        [str(Path(sys.executable).parent / "pgeventstore"), "tail", "--poll-interval", "0.05"],
        env={**os.environ, "PGEVENTSTORE_DSN": dsn},
        stdout=subprocess.PIPE,
        text=True,
    ) as child:
        assert child.stdout is not None
        try:
            with EventStore(dsn) as store:
                store.append("order-7", [NewEvent("OrderPlaced", {})])
            assert "order-7@0\tOrderPlaced" in child.stdout.readline()
        finally:
            child.send_signal(signal.SIGINT)
        # Ctrl-C ends it as the shell's convention says: 128 + SIGINT (README: exit codes).
        assert child.wait(10) == 130


def test_projection_follows_live_until_stopped(dsn: str) -> None:
    build_orders_by_status(dsn)  # creates the read model
    projection = orders_projection(dsn)
    projection.poll_interval = 0.05
    thread = threading.Thread(target=projection.run)
    thread.start()
    try:
        with EventStore(dsn) as store:
            place_orders(store, 10)
        deadline = time.monotonic() + 10
        with psycopg.connect(dsn, autocommit=True) as conn:
            while time.monotonic() < deadline:
                row = conn.execute("select count(*) from order_status").fetchone()
                if row == (10,):
                    break
                time.sleep(0.05)
    finally:
        projection.stop()
        thread.join(5)
    assert not thread.is_alive()
    with psycopg.connect(dsn, autocommit=True) as conn:
        assert dict(conn.execute("select status, count(*) from order_status group by status").fetchall()) == (
            expected_counts(10)
        )


def test_a_stopped_projection_still_catches_up_and_rebuilds(dsn: str) -> None:
    with EventStore(dsn) as store:
        place_orders(store, 10)
    build_orders_by_status(dsn)  # creates the table and catches up
    projection = orders_projection(dsn)
    projection.stop()
    with EventStore(dsn) as store:
        place_orders(store, 5, start=10)
    assert projection.catch_up() > 0, "stop() ended a one-shot catch-up"
    assert projection.rebuild() > 0, "stop() made rebuild() replay nothing"
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute("select status, count(*) from order_status group by status").fetchall()
    assert dict(rows) == expected_counts(15)


def test_a_lone_string_of_event_types_is_refused() -> None:
    with pytest.raises(TypeError):
        LogFilter(event_types="OrderPlaced")
    assert LogFilter(event_types=["OrderPlaced"]).event_types == ["OrderPlaced"]


def test_followers_on_a_store_share_its_pool_and_codec(dsn: str) -> None:
    with EventStore(dsn, loads=lambda text: ("decoded", text)) as store:
        store.append("order-1", [NewEvent("OrderPlaced", {"n": 1})])
        delivered: list[RecordedEvent] = []
        assert Subscription(store, "codec", delivered.append).catch_up() == 1
        assert delivered[0].data == ("decoded", '{"n": 1}')
        applied: list[object] = []
        projection = Projection(store, "codec-projection", lambda conn, e: applied.append(e.data))
        assert projection.catch_up() == 1
        assert applied == [("decoded", '{"n": 1}')]
        with pytest.raises(ValueError, match="loads= is for a DSN"):
            Subscription(store, "codec", delivered.append, loads=lambda text: text)


def test_async_projection_applies_each_event_once_and_rebuilds(dsn: str) -> None:
    with EventStore(dsn) as store:
        place_orders(store, 30)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("create table placed (order_id text primary key)")

    async def apply(conn: psycopg.AsyncConnection[Any], event: RecordedEvent) -> None:
        await conn.execute("insert into placed values (%s)", (event.stream_id,))

    async def reset(conn: psycopg.AsyncConnection[Any]) -> None:
        await conn.execute("truncate placed")

    async def main() -> tuple[int, int, int]:
        async with AsyncEventStore(dsn) as store:
            projection = AsyncProjection(
                store,
                "placed",
                apply,
                reset=reset,
                log_filter=LogFilter(event_types=["OrderPlaced"]),
                batch_size=7,
            )
            first = await projection.catch_up()
            again = await projection.catch_up()  # a duplicate insert would fail the batch
            rebuilt = await projection.rebuild()
            return first, again, rebuilt

    assert asyncio.run(main()) == (30, 0, 30)
    with psycopg.connect(dsn) as conn:
        assert conn.execute("select count(*) from placed").fetchone() == (30,)
