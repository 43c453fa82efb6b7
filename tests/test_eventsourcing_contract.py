"""The notification-id contract of pgeventstore.eventsourcing that the library's cases never exercise.

* ids are read in ascending order, and none is missed, under concurrent writers, also when
  an older transaction commits after a newer one;
* any integers are valid ``start``/``stop`` bounds;
* an id returned by ``insert_events`` is never followed later by a smaller one;
* ``max_notification_id`` stays fast on a large store.
"""

from __future__ import annotations

import json
import statistics
import threading
import time
from collections.abc import Iterator
from uuid import uuid4

import psycopg
import pytest
from eventsourcing.persistence import DataError, StoredEvent, Tracking
from eventsourcing.utils import Environment

from eventsourcing_support import eventsourcing_role as eventsourcing_role  # the fixture
from eventsourcing_support import store_settings
from pgeventstore.eventsourcing import Factory, PgEventStoreApplicationRecorder

pytestmark = pytest.mark.usefixtures("eventsourcing_role")


@pytest.fixture
def factory(dsn: str) -> Iterator[Factory]:
    factory = Factory(Environment("Shop", store_settings(dsn)))
    yield factory
    factory.close()


@pytest.fixture
def recorder(factory: Factory) -> PgEventStoreApplicationRecorder:
    recorder = factory.application_recorder()
    assert isinstance(recorder, PgEventStoreApplicationRecorder)
    return recorder


def event(originator: object, version: int = 1) -> StoredEvent:
    return StoredEvent(originator_id=originator, originator_version=version, topic="t", state=b"{}")  # type: ignore[arg-type]


def test_an_older_transaction_committing_later_is_numbered_before_a_newer_one(
    dsn: str, recorder: PgEventStoreApplicationRecorder
) -> None:
    """The newer insert_events waits until the older transaction ends; its ids come after."""
    older = psycopg.connect(dsn)
    originator = uuid4()
    batch = [{"type": "t", "data": "{}", "metadata": {"originator_version": 1}}]
    older.execute(
        "select eventstore.append_versioned(%s, %s::jsonb)", (f"shop-{originator}", json.dumps(batch))
    )
    returned: list[int] = []
    newer = threading.Thread(target=lambda: returned.extend(recorder.insert_events([event(uuid4())]) or []))
    newer.start()
    newer.join(0.5)
    assert newer.is_alive(), "insert_events returned an id while an older transaction could still commit"
    assert recorder.select_notifications(None, 10) == [], "nothing is readable while the older one is open"
    assert recorder.max_notification_id() is None
    older.commit()
    older.close()
    newer.join(10)
    notifications = recorder.select_notifications(None, 10)
    assert notifications[0].originator_id == originator
    assert returned == [notifications[1].id] and notifications[0].id < returned[0]
    assert recorder.max_notification_id() == returned[0]


def test_any_integers_are_bounds(recorder: PgEventStoreApplicationRecorder) -> None:
    ids = list(recorder.insert_events([event(uuid4(), v) for v in range(1, 6)]) or [])
    assert ids == [1, 2, 3, 4, 5]
    bounds = [None, -(2**80), -(2**63) - 1, -(2**63), -1, 0, 1, 2, 3, 5, 6, 2**63 - 1, 2**63, 2**80]
    for start in bounds:
        for stop in bounds:
            for inclusive in (True, False):
                for limit in (-1, 0, 1, 2, 10):
                    expected = [
                        i
                        for i in ids
                        if (start is None or (i >= start if inclusive else i > start))
                        and (stop is None or i <= stop)
                    ][: max(limit, 0)]
                    got = recorder.select_notifications(start, limit, stop, inclusive_of_start=inclusive)
                    assert [n.id for n in got] == expected, (start, stop, inclusive, limit)


def test_ids_returned_never_go_backwards_and_followers_miss_nothing(
    recorder: PgEventStoreApplicationRecorder,
) -> None:
    """8 writers (batches of one or two originators) and a follower reading while they write."""
    lock = threading.Lock()
    highest_returned = 0
    returned: list[int] = []
    errors: list[BaseException] = []
    done = threading.Event()

    def write(n: int) -> None:
        nonlocal highest_returned
        try:
            for i in range(40):
                with lock:
                    floor = highest_returned
                originator = uuid4()
                batch = [event(originator, 1), event(originator, 2)] + ([event(uuid4())] if i % 2 else [])
                ids = list(recorder.insert_events(batch) or [])
                assert len(ids) == len(batch) and min(ids) > floor, (floor, ids)
                with lock:
                    highest_returned = max(highest_returned, *ids)
                    returned.extend(ids)
        except BaseException as error:
            errors.append(error)

    followed: list[int] = []

    def follow() -> None:
        try:
            while True:
                finished = done.is_set()
                page = recorder.select_notifications(
                    followed[-1] if followed else 0, 7, inclusive_of_start=False
                )
                followed.extend(n.id for n in page)
                if finished and not page:
                    return
        except BaseException as error:
            errors.append(error)

    follower = threading.Thread(target=follow)
    follower.start()
    writers = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for w in writers:
        w.start()
    for w in writers:
        w.join()
    done.set()
    follower.join()
    assert not errors, errors[0]
    assert followed == sorted(returned), "the follower saw every event once, in ascending order"
    assert followed == list(range(1, len(followed) + 1)), "one application alone: the ids are dense"


def test_max_notification_id_is_fast_on_a_large_store(
    dsn: str, recorder: PgEventStoreApplicationRecorder
) -> None:
    """Its cost is the application's events not numbered yet, not how many it has."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "select eventstore.append_to_stream('shop-' || s, -1, "
            "(select jsonb_agg(jsonb_build_object('type', 'T', 'data', e)) from generate_series(1, 1000) e)) "
            "from generate_series(1, 50) s"
        )
        while conn.execute("select eventstore.number_log(100000)").fetchone() != (0,):
            pass
    assert recorder.max_notification_id() == 50_000
    timings = []
    for _ in range(20):
        started = time.perf_counter()
        assert recorder.max_notification_id() == 50_000
        timings.append(time.perf_counter() - started)
    assert statistics.median(timings) < 0.01, timings


def test_what_the_store_cannot_hold_is_refused_not_altered(factory: Factory) -> None:
    recorder = factory.process_recorder()
    originator = uuid4()
    too_big = 2**63
    for refused in (
        [event(originator, too_big)],
        [StoredEvent(originator_id=originator, originator_version=1, topic="t" * 256, state=b"{}")],
        [StoredEvent(originator_id=originator, originator_version=1, topic="t\x00", state=b"{}")],
    ):
        with pytest.raises(DataError):
            recorder.insert_events(refused)
    with pytest.raises(DataError):
        recorder.insert_tracking(Tracking("Upstream", too_big))
    with pytest.raises(DataError):
        recorder.insert_events([event(originator)], tracking=Tracking("Upstream", too_big))
    assert recorder.select_events(originator) == []
    assert recorder.max_tracking_id("Upstream") is None
    binary = StoredEvent(originator_id=originator, originator_version=1, topic="t", state=b"\x00\xff{}")
    recorder.insert_events([binary], tracking=Tracking("Upstream", 2**63 - 1))
    assert recorder.select_events(originator) == [binary], "any bytes come back as they were"
    assert recorder.max_tracking_id("Upstream") == 2**63 - 1
