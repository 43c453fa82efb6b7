"""The stream lifecycle through Python and the command line, and scavenging racing live work.

The single-session rules are pgTAP's (pgtap_tests/83_* to 85_*); here: the EventStore and
AsyncEventStore methods and their exceptions, the CLI commands and their exit codes, and
scavenges every second while writers append, delete and tombstone, and readers (a raw
log reader, a Projection, stream readers) follow: nothing a reader was entitled to is
lost or repeated, and no reader fails.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import json
import random
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner, Result
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from pgeventstore import (
    ANY,
    NO_STREAM,
    AsyncEventStore,
    EventStore,
    InvalidArgument,
    NewEvent,
    RecordedEvent,
    StreamDeleted,
    StreamNotFound,
    WrongExpectedVersion,
)
from pgeventstore.cli import main
from pgeventstore.subscription import Projection
from pgeventstore.values import LogFilter


@pytest.fixture
def store(dsn: str) -> Iterator[EventStore]:
    with EventStore(dsn) as s:
        yield s


def batch(n: int, kind: str = "Happened") -> list[NewEvent]:
    return [NewEvent(kind, {"n": i}) for i in range(n)]


def cli(dsn: str, *args: str) -> Result:
    return CliRunner().invoke(main, ["--dsn", dsn, *args], catch_exceptions=False)


# ---- the Python API ----


def test_metadata_delete_tombstone_scavenge(store: EventStore) -> None:
    store.append("cart-1", batch(4), NO_STREAM)
    assert store.get_stream_metadata("cart-1").metadata_version == -1
    assert store.set_stream_metadata("cart-1", {"max_count": 2, "owner": "ann"}, -1) == 0
    found = store.get_stream_metadata("cart-1")
    assert (found.metadata, found.metadata_version, found.deleted, found.tombstoned) == (
        {"max_count": 2, "owner": "ann"},
        0,
        False,
        False,
    )
    assert [e.version for e in store.read_stream("cart-1")] == [2, 3]
    with pytest.raises(WrongExpectedVersion) as stale:
        store.set_stream_metadata("cart-1", {}, -1)
    assert (stale.value.expected, stale.value.actual) == (-1, 0)
    with pytest.raises(InvalidArgument, match="max_age"):
        store.set_stream_metadata("cart-1", {"max_age": "later"})

    assert store.delete_stream("cart-1", 3) == 4
    assert store.stream_version("cart-1") == -1
    assert store.read_stream("cart-1") == []
    assert store.get_stream_metadata("cart-1").deleted
    with pytest.raises(StreamNotFound):
        store.delete_stream("cart-1")
    assert store.append("cart-1", batch(1), NO_STREAM).stream_version == 5

    store.append("cart-2", batch(1), NO_STREAM)
    assert store.tombstone_stream("cart-2", 0) == 1
    with pytest.raises(StreamDeleted):
        store.append("cart-2", batch(1), ANY)
    with pytest.raises(StreamDeleted):
        store.read_stream("cart-2")
    assert store.get_stream_metadata("cart-2").tombstoned

    while store.number_log():
        pass
    plan = store.scavenge(dry_run=True)
    # The first rule that hides an event names it: the deletion hides all four of cart-1's.
    assert {(p.stream_id, p.rule, p.events_removed) for p in plan} == {
        ("cart-1", "delete", 4),
        ("cart-2", "tombstone", 1),
    }
    assert sum(item.events_removed for item in store.scavenge(3)) == 3
    assert sum(item.events_removed for item in store.scavenge(3)) == 2
    assert store.scavenge() == []
    audit = store.list_scavenges()
    assert sum(record.events_removed for record in audit) == 5
    assert [e.version for e in store.read_stream("cart-1")] == [5]


def test_async_methods(dsn: str) -> None:
    async def scenario() -> None:
        async with AsyncEventStore(dsn) as store:
            await store.append("order-1", batch(3), NO_STREAM)
            assert await store.set_stream_metadata("order-1", {"truncate_before": 2}) == 0
            assert [e.version for e in await store.read_stream("order-1")] == [2]
            assert (await store.get_stream_metadata("order-1")).metadata == {"truncate_before": 2}
            assert await store.delete_stream("order-1") == 3
            assert await store.tombstone_stream("order-2", NO_STREAM) == 0
            with pytest.raises(StreamDeleted):
                await store.append_event("order-2", NewEvent("A", {}), NO_STREAM)
            assert await store.number_log() >= 0
            removed = await store.scavenge(dry_run=True)
            assert sum(item.events_removed for item in removed) == 3
            assert await store.list_scavenges() == []

    asyncio.run(scenario())


def test_scavenge_needs_admin_or_maintenance(dsn: str, store: EventStore) -> None:
    store.append("order-1", batch(2), NO_STREAM)
    store.delete_stream("order-1")
    with psycopg.connect(dsn, autocommit=True) as conn:
        for role, allowed in (("eventstore_writer", False), ("eventstore_maintenance", True)):
            with conn.transaction(force_rollback=True):
                conn.execute(f"set local role {role}")
                with EventStore(conn) as as_role:
                    if allowed:
                        assert as_role.scavenge(dry_run=True)
                    else:
                        with pytest.raises(psycopg.errors.InsufficientPrivilege):
                            as_role.scavenge(dry_run=True)


# ---- the command line ----


def test_cli_commands_and_exit_codes(dsn: str, store: EventStore) -> None:
    store.append("cart-1", batch(3), NO_STREAM)
    result = cli(dsn, "stream-metadata", "cart-1", '{"max_count": 1}', "-e", "none")
    assert result.exit_code == 0, result.output
    assert "metadata version 0" in result.output
    assert cli(dsn, "stream-metadata", "cart-1", '{"max_count": 0}').exit_code == 6
    assert cli(dsn, "stream-metadata", "cart-1", "{}", "-e", "5").exit_code == 3
    assert cli(dsn, "stream-metadata", "cart-1", "[1]").exit_code == 2
    shown = cli(dsn, "stream-metadata", "cart-1", "--json")
    assert json.loads(shown.output)["metadata"] == {"max_count": 1}

    assert cli(dsn, "delete", "cart-1", "-e", "0").exit_code == 3
    assert cli(dsn, "delete", "cart-1", "-e", "2").exit_code == 0
    assert cli(dsn, "delete", "cart-1").exit_code == 4
    assert cli(dsn, "read", "cart-1").exit_code == 4
    assert cli(dsn, "append", "cart-1", "A", "{}", "-e", "no-stream").exit_code == 0

    store.append("cart-2", batch(1), NO_STREAM)
    assert cli(dsn, "tombstone", "cart-2").exit_code == 0
    assert cli(dsn, "append", "cart-2", "A", "{}").exit_code == 13
    assert cli(dsn, "read", "cart-2").exit_code == 13
    assert cli(dsn, "tombstone", "cart-2").exit_code == 13

    while store.number_log():
        pass
    dry = cli(dsn, "scavenge", "--dry-run")
    assert dry.exit_code == 0
    assert "would remove 4 event(s) of 2 stream(s)" in dry.output
    assert store.stats().events == 5
    done = cli(dsn, "scavenge", "--batch", "2", "--json")
    assert done.exit_code == 0
    rows = [json.loads(line) for line in done.output.splitlines()]
    assert sum(row["events_removed"] for row in rows) == 4
    assert store.stats().events == 1
    assert "removed 0 event(s)" in cli(dsn, "scavenge").output


def test_cli_scavenge_refused_for_a_writer_names_the_role(dsn: str, store: EventStore) -> None:
    login = f"lifecycle_writer_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"create role {login} login password 'x'")
        conn.execute(f"grant eventstore_writer to {login}")
    try:
        params = {k: str(v) for k, v in conninfo_to_dict(dsn).items() if k != "passfile"}
        params.update(user=login, password="x")
        result = CliRunner().invoke(
            main, ["--dsn", make_conninfo("", **params), "scavenge"], catch_exceptions=False
        )
        assert result.exit_code == 9, result.output
        assert "eventstore_maintenance" in result.output
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f"drop role {login}")


# ---- scavenging racing writers and readers ----


@dataclass
class Race:
    """What the threads of one race share."""

    dsn: str
    events: int
    errors: list[BaseException] = field(default_factory=list)
    writers_done: threading.Event = field(default_factory=threading.Event)
    stop: threading.Event = field(default_factory=threading.Event)
    #: stream -> versions of the events in it that stay readable at the end.
    final: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))
    appended: int = 0
    scavenges: int = 0
    removed: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def guard(self, work: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                work()
            except BaseException as error:  # every failure of a thread fails the test
                self.errors.append(error)
                self.stop.set()

        return run


def writer(race: Race, seed: int) -> None:
    """Appends to streams of three kinds: kept, windowed (max_count 5), and deleted or tombstoned."""
    rng = random.Random(seed)
    with EventStore(race.dsn) as store:
        n = 0
        while not race.stop.is_set():
            with race.lock:
                if race.appended >= race.events:
                    return
                race.appended += 10
            n += 1
            kind = rng.choice(["keep", "keep", "window", "gone"])
            stream = f"{kind}-{seed}x{n % 40}"
            events = [NewEvent("Happened", {"stream": stream, "i": i}) for i in range(10)]
            if kind == "keep":
                result = store.append(stream, events, ANY)
                versions = set(range(result.stream_version - 9, result.stream_version + 1))
                race.final[stream] |= versions
            elif kind == "window":
                if store.get_stream_metadata(stream).metadata_version == -1:
                    store.set_stream_metadata(stream, {"max_count": 5}, -1)
                result = store.append(stream, events, ANY)
                race.final[stream] = set(range(result.stream_version - 4, result.stream_version + 1))
            else:
                try:
                    result = store.append(stream, events, ANY)
                except StreamDeleted:
                    continue
                race.final[stream] |= set(range(result.stream_version - 9, result.stream_version + 1))
                if rng.random() < 0.5:
                    if rng.random() < 0.2:
                        store.tombstone_stream(stream, result.stream_version)
                    else:
                        store.delete_stream(stream, result.stream_version)
                    race.final[stream] = set()


def scavenger(race: Race) -> None:
    """A scavenge every second (batches of 500 until nothing is left), until the writers are done."""
    with EventStore(race.dsn) as store:
        while True:
            last = race.writers_done.is_set()
            while removed := store.scavenge(500):
                race.removed += sum(item.events_removed for item in removed)
            race.scavenges += 1
            if last or race.stop.is_set():
                return
            time.sleep(1.0)


def log_reader(race: Race, got: list[RecordedEvent]) -> None:
    """Pages through the global log with a cursor that names its event, to the end."""
    with EventStore(race.dsn) as store:
        after, after_id = 0, None
        while not race.stop.is_set():
            page = store.run(store.calls.read_log(LogFilter(), after, 200, after_id))
            got.extend(page)
            if page:
                after, after_id = page[-1].log_number or 0, page[-1].id
            else:
                time.sleep(0.02)


def stream_reader(race: Race) -> None:
    """Reads kept streams back whole: contiguous versions from 0, never an error."""
    rng = random.Random(7)
    with EventStore(race.dsn) as store:
        while not race.stop.is_set():
            stream = f"keep-{rng.randint(1, 2)}x{rng.randint(0, 39)}"
            versions = [e.version for e in store.read_stream(stream, limit=100_000)]
            assert versions == list(range(len(versions))), stream
            loaded = store.load_stream(stream)
            assert [e.version for e in loaded.events] == list(range(len(loaded.events))), stream


def run_race(dsn: str, events: int) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "create table seen (event_id uuid primary key, log_number bigint not null, stream_id text)"
        )
    race = Race(dsn, events)
    raw: list[RecordedEvent] = []

    def project(conn: psycopg.Connection[Any], event: RecordedEvent) -> None:
        # A repeated event would violate the primary key and fail the projection.
        conn.execute("insert into seen values (%s, %s, %s)", (event.id, event.log_number, event.stream_id))

    projection = Projection(dsn, "lifecycle-race", project, batch_size=300, poll_interval=0.05)
    threads = [threading.Thread(target=race.guard(functools.partial(writer, race, seed))) for seed in (1, 2)]
    helpers = [
        threading.Thread(target=race.guard(lambda: scavenger(race))),
        threading.Thread(target=race.guard(lambda: log_reader(race, raw))),
        threading.Thread(target=race.guard(lambda: stream_reader(race))),
        threading.Thread(target=race.guard(projection.run)),
    ]
    for thread in threads + helpers:
        thread.start()
    for thread in threads:
        thread.join()
    race.writers_done.set()
    helpers[0].join()  # the last scavenge, after the last append
    with EventStore(dsn) as store:
        while store.number_log():
            pass
        head = store.log_head()
        # Caught up: nothing readable after the raw reader's cursor nor the projection's
        # checkpoint (subscription_lag counts the log numbers of hidden events too).
        # The projection applies an event at a time: give it time in proportion to the events.
        deadline = time.monotonic() + 60 + events / 200
        caught_up = False
        while not caught_up and time.monotonic() < deadline and not race.errors:
            raw_after = (raw[-1].log_number or 0) if raw else 0
            checkpoint = store.load_checkpoint("lifecycle-race")
            pending = itertools.chain(
                store.read_all(raw_after, page_size=1), store.read_all(checkpoint, page_size=1)
            )
            caught_up = next(pending, None) is None
            time.sleep(0.1)
        race.stop.set()
        projection.stop()
        for thread in helpers:
            thread.join()
        assert not race.errors, race.errors
        assert caught_up, "the log reader and the projection did not catch up in time"
        assert race.scavenges >= 2 and race.removed > 0
        # Nothing repeated: log numbers strictly increase for the raw reader; the projection's key holds.
        numbers = [e.log_number or 0 for e in raw]
        assert numbers == sorted(set(numbers))
        # Nothing lost: every event that is readable at the end was delivered, to both.
        readable = {(s, v) for s, versions in race.final.items() for v in versions}
        assert sum(1 for _ in readable) >= events // 4
        got_raw = {(e.stream_id, e.version) for e in raw}
        assert readable <= got_raw, sorted(readable - got_raw)[:5]
        with psycopg.connect(dsn) as conn:
            projected = {row[0] for row in conn.execute("select event_id from seen")}
        assert {e.id for e in raw if (e.stream_id, e.version) in readable} <= projected
        # What the log gives now is exactly the readable events, after the final scavenge.
        final_log = list(store.read_all(page_size=10_000))
        assert {(e.stream_id, e.version) for e in final_log} == readable
        while store.scavenge(10_000):
            pass
        assert store.scavenge(dry_run=True) == []
        assert head == store.log_head()
        assert store.stats().events == len(readable)
    # Shown with -s: how much the race did.
    print(f"appended {race.appended}, {race.scavenges} scavenges removed {race.removed}, read {len(raw)}")


def test_scavenging_races_appends_readers_and_a_projection(dsn: str) -> None:
    run_race(dsn, 20_000)


@pytest.mark.soak
def test_scavenging_races_soak(dsn: str) -> None:
    run_race(dsn, 200_000)
