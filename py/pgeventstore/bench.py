"""The benchmark behind ``pgeventstore bench``: the store against plain SQL, in one run.

Every workload runs twice, through the store's SQL functions and through the "floor":
plain INSERT/SELECT statements on tables with the same columns and indexes as the store's
(``create table ... (like eventstore.x including all)``) but no checks. The two sides
alternate round by round (store first in even rounds, floor first in odd ones) so that
drift on a shared machine hits both alike; what matters is the ratio, not the absolute
figures. Each call is timed on its own for the latency percentiles.

Workloads 10 and 11 measure the global log's numbering (eventstore.number_log): how
fast a backlog is numbered, against appending it, and how long an event takes from its
commit to a reader following the log while eight clients append.

The benchmark never touches existing data: it creates scratch databases (a template with
the store and the floor tables, then one copy per group of workloads) on the server it is
given and drops them at the end, so it needs a role that may create databases.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
import statistics
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from pgeventstore import schema
from pgeventstore.aggregate import AggregateType, Repository
from pgeventstore.calls import APPEND_EVENT_SQL, APPEND_SQL, NUMBER_LOG_SQL
from pgeventstore.store import EventStore
from pgeventstore.values import NO_STREAM, LogFilter, NewEvent

#: The payload of every event: a JSON object of about 200 bytes.
PAYLOAD: dict[str, Any] = {
    "order_id": "3f2c9d5e-7b1a-4e8f-9c6d-2a5b8e1f4c7d",
    "customer_id": "c-000042",
    "status": "placed",
    "items": [{"sku": "SKU-1001", "qty": 2, "price_cents": 1999}, {"sku": "SKU-2002", "qty": 1}],
    "total_cents": 5997,
    "currency": "EUR",
}
PAYLOAD_JSON = json.dumps(PAYLOAD)
EVENT_TYPE = "BenchEvent"

FLOOR_SCHEMA_SQL = """
create schema bench_floor;
create table bench_floor.events (like eventstore.events including all);
create table bench_floor.snapshots (like eventstore.snapshots including all);
"""
FLOOR_INSERT_SQL = (
    "insert into bench_floor.events (stream_id, version, event_id, event_type, data) "
    "values (%s::text, %s::bigint, gen_random_uuid(), %s::text, %s::jsonb) returning global_position"
)
# The floor's four arguments: no metadata and no id, as most appends of one event.
STORE_APPEND_EVENT_SQL = (
    "select stream_version, first_position, last_position "
    "from eventstore.append_event(%s::text, %s::bigint, %s::text, %s::jsonb)"
)
EVENT_COLUMNS = "stream_id, version, global_position, event_id, event_type, data, metadata, recorded_at"
STORE_READ_STREAM_SQL = (
    f"select {EVENT_COLUMNS} from eventstore.read_stream(%s::text, %s::bigint, %s::integer, false)"
)
FLOOR_READ_STREAM_SQL = (
    f"select {EVENT_COLUMNS} from bench_floor.events "
    "where stream_id = %s::text and version >= %s::bigint order by version limit %s::integer"
)
STORE_READ_ALL_SQL = (
    # The floor's nine columns: the log number (the store's cursor) and the event's.
    f"select log_number, {EVENT_COLUMNS} from eventstore.read_all(%s::bigint, %s::integer)"
)
FLOOR_READ_ALL_SQL = (
    # Aliased: an output column named transaction_id (text) would be what ORDER BY sorts.
    f"select {EVENT_COLUMNS}, transaction_id::text as cursor_xid from bench_floor.events "
    "where (transaction_id, global_position) > (%s::xid8, %s::bigint) "
    "order by transaction_id, global_position limit %s::integer"
)
# The floor loads an aggregate as plain SQL would: the snapshot, then the events after it.
# (One statement with the snapshot version as a subquery gets a generic estimate of a third
# of the stream and a sequential scan: no floor at all.)
FLOOR_SNAPSHOT_SQL = "select version, state from bench_floor.snapshots where stream_id = %s::text"
FLOOR_TAIL_SQL = (
    "select version, data from bench_floor.events where stream_id = %s::text and version > %s::bigint "
    "order by version"
)

Conn = psycopg.Connection[Any]
#: One call of a workload: returns (events written or read, conflicts met on the way).
Op = Callable[[], tuple[int, int]]


@dataclasses.dataclass(frozen=True)
class Scale:
    """How much work each workload does per round."""

    single_calls: int
    batch_calls: int
    clients_calls: int
    race_calls: int
    stream_length: int
    read_stream_calls: int
    aggregate_sizes: tuple[int, int]
    aggregate_loads: int
    growth_fill: int
    numbering_backlog: int
    follow_seconds: float


FULL = Scale(
    single_calls=500,
    batch_calls=20,
    clients_calls=60,
    race_calls=60,
    stream_length=10_000,
    read_stream_calls=5,
    aggregate_sizes=(100, 100_000),
    aggregate_loads=100,
    growth_fill=200_000,
    numbering_backlog=40_000,
    follow_seconds=3.0,
)
QUICK = Scale(
    single_calls=15,
    batch_calls=3,
    clients_calls=3,
    race_calls=4,
    stream_length=300,
    read_stream_calls=2,
    aggregate_sizes=(100, 1_000),
    aggregate_loads=3,
    growth_fill=2_000,
    numbering_backlog=1_000,
    follow_seconds=0.3,
)
GROWTH_FILL = 5_000_000
#: Turns per round of the single-client write workloads (see :func:`interleaved`).
SINGLE_BLOCKS = 10
#: Workload 11: the appending clients, and how long the reader sleeps once caught up.
FOLLOW_WRITERS = 8
POLL_INTERVAL = 0.005
#: How long workload 11's reader may take, after the writers stopped, to get every event.
DRAIN_SECONDS = 30.0
#: How long workload 10 retries when number_log finds nothing readable (an older
#: transaction of another session still open holds the backlog back).
NUMBERING_PATIENCE = 30.0


@dataclasses.dataclass
class Side:
    """What one side (store or floor) of a workload measured over all its rounds."""

    calls: int = 0
    events: int = 0
    conflicts: int = 0
    seconds: float = 0.0
    latencies: list[float] = dataclasses.field(default_factory=list)

    def add(self, other: Side) -> None:
        """Add the figures of one round."""
        self.calls += other.calls
        self.events += other.events
        self.conflicts += other.conflicts
        self.seconds += other.seconds
        self.latencies.extend(other.latencies)

    @property
    def rate(self) -> float:
        """Events per second."""
        return self.events / self.seconds if self.seconds else 0.0

    def percentile_ms(self, q: float) -> float:
        """The q-th percentile (0..100) of the call latencies, in milliseconds."""
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))
        return ordered[index] * 1000

    def summary(self) -> dict[str, Any]:
        """The figures as a JSON-ready dict."""
        return {
            "calls": self.calls,
            "events": self.events,
            "seconds": round(self.seconds, 4),
            "events_per_s": round(self.rate, 1),
            "p50_ms": round(self.percentile_ms(50), 3),
            "p99_ms": round(self.percentile_ms(99), 3),
            "mean_ms": round(statistics.fmean(self.latencies) * 1000, 3) if self.latencies else 0.0,
            "conflicts": self.conflicts,
        }


@dataclasses.dataclass(frozen=True)
class Target:
    """A workload's target: ``measured`` compared against ``bound`` (``>=`` or ``<=``)."""

    text: str
    measured: float
    bound: float
    at_least: bool = True
    applies: bool = True

    @property
    def met(self) -> bool | None:
        """Whether the target holds; None when this run cannot tell (e.g. a smaller fill)."""
        if not self.applies:
            return None
        return self.measured >= self.bound if self.at_least else self.measured <= self.bound


@dataclasses.dataclass(frozen=True)
class Result:
    """One row of the report: a workload, its two sides and its target."""

    key: str
    title: str
    store: Side
    floor: Side
    target: Target | None
    note: str = ""
    #: Figures of this workload that the two sides do not hold (workloads 10 and 11).
    details: dict[str, Any] | None = None

    @property
    def ratio(self) -> float:
        """The store's rate as a fraction of the floor's."""
        return self.store.rate / self.floor.rate if self.floor.rate else 0.0

    def as_dict(self) -> dict[str, Any]:
        """The row as a JSON-ready dict."""
        target = self.target
        return {
            "key": self.key,
            "title": self.title,
            "store": self.store.summary(),
            "floor": self.floor.summary(),
            "ratio_to_floor": round(self.ratio, 3),
            "target": None
            if target is None
            else {
                "text": target.text,
                "measured": round(target.measured, 3),
                "bound": target.bound,
                "met": target.met,
            },
            "note": self.note,
            "details": self.details,
        }


Progress = Callable[[str], None]


def timed(calls: int, op: Op, *, seconds: float | None = None) -> Side:
    """Run ``op`` ``calls`` times (with ``seconds``: for that long) on this thread, timing each call."""
    side = Side()
    start = time.perf_counter()
    while side.calls < calls if seconds is None else time.perf_counter() - start < seconds:
        began = time.perf_counter()
        events, conflicts = op()
        side.latencies.append(time.perf_counter() - began)
        side.calls += 1
        side.events += events
        side.conflicts += conflicts
    side.seconds = time.perf_counter() - start
    return side


def timed_concurrently(calls: int, ops: Sequence[Op], *, seconds: float | None = None) -> Side:
    """Run every op of ``ops`` ``calls`` times (or for ``seconds``), each on its own thread, together."""
    barrier = threading.Barrier(len(ops) + 1)
    results: list[Side] = [Side() for _ in ops]
    failures: list[BaseException] = []

    def client(index: int, op: Op) -> None:
        barrier.wait()
        try:
            results[index] = timed(calls, op, seconds=seconds)
        except BaseException as error:  # re-raised on the main thread below
            failures.append(error)

    threads = [threading.Thread(target=client, args=(i, op)) for i, op in enumerate(ops)]
    for thread in threads:
        thread.start()
    barrier.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - start
    if failures:
        raise failures[0]
    total = Side()
    for result in results:
        total.add(result)
    total.seconds = seconds
    return total


def interleaved(
    rounds: int,
    store: Callable[[], Side],
    floor: Callable[[], Side],
    progress: Progress,
    label: str,
    *,
    blocks: int = 1,
) -> tuple[Side, Side]:
    """Run both sides ``rounds`` times, in ``blocks`` turns each per round, and sum their figures.

    The turns go store, floor, floor, store, ... so that a change in the machine's speed falls
    on both sides alike; short turns (several blocks) follow faster changes.
    """
    totals = {"store": Side(), "floor": Side()}
    turn = 0
    for _ in range(rounds):
        for block in range(blocks):
            order = [("store", store), ("floor", floor)]
            if turn % 2:
                order.reverse()
            turn += 1
            for name, run in order:
                totals[name].add(run())
                if block == blocks - 1:
                    progress(label)
    return totals["store"], totals["floor"]


def batch_json(count: int) -> str:
    """An append batch of ``count`` benchmark events, as JSON text."""
    return json.dumps([{"type": EVENT_TYPE, "data": PAYLOAD} for _ in range(count)])


def store_append(conn: Conn, stream_id: str, expected: int | None, events: str) -> int:
    """Append through eventstore.append_to_stream; return the new stream version."""
    row = conn.execute(APPEND_SQL, (stream_id, expected, events)).fetchone()
    assert row is not None
    version: int = row[0]
    return version


def store_append_event(conn: Conn, stream_id: str, expected: int | None) -> int:
    """Append one benchmark event through eventstore.append_event; return the new stream version."""
    row = conn.execute(STORE_APPEND_EVENT_SQL, (stream_id, expected, EVENT_TYPE, PAYLOAD_JSON)).fetchone()
    assert row is not None
    version: int = row[0]
    return version


def floor_insert(conn: Conn, stream_id: str, version: int) -> None:
    """Insert one event row into the floor table (one statement, its own transaction)."""
    conn.execute(FLOOR_INSERT_SQL, (stream_id, version, EVENT_TYPE, PAYLOAD_JSON)).fetchone()


def number_backlog(conn: Conn, count: int) -> Side:
    """Call eventstore.number_log, as the log readers do, until it has numbered ``count`` events.

    Each call is its own transaction with the default max_count (10,000), as the call a
    reader makes first.
    """
    side = Side()
    start = time.perf_counter()
    while side.events < count:
        began = time.perf_counter()
        row = conn.execute(NUMBER_LOG_SQL).fetchone()
        side.latencies.append(time.perf_counter() - began)
        side.calls += 1
        numbered = int(row[0]) if row else 0
        side.events += numbered
        if not numbered:
            if time.perf_counter() - start > NUMBERING_PATIENCE:
                raise RuntimeError(
                    f"number_log numbered nothing for {NUMBERING_PATIENCE:.0f} s with "
                    f"{count - side.events} event(s) left: a transaction older than them stays open"
                )
            time.sleep(POLL_INTERVAL)
    side.seconds = time.perf_counter() - start
    return side


class Bench:
    """One benchmark run against the server behind ``admin_dsn``."""

    def __init__(
        self,
        admin_dsn: str,
        *,
        scale: Scale,
        rounds: int,
        growth: bool,
        durability: str,
        prefix: str,
        progress: Progress | None = None,
    ) -> None:
        self.admin_dsn = admin_dsn
        self.scale = scale
        self.rounds = rounds
        self.growth = growth
        self.durability = durability
        self.prefix = prefix
        self.progress: Progress = progress or (lambda label: None)
        self.run_id = uuid.uuid4().hex[:8]
        self.databases: list[str] = []
        self.conns: list[Conn] = []
        self.dsn = ""
        self.template = ""

    @property
    def steps(self) -> int:
        """How many progress steps the run makes (two per round and measured pair, plus setups)."""
        # workloads 1-7 with 1b and 2b, 8 (two sizes), 9 (two states), the wrapper (two batch
        # sizes), 10 and 11
        pairs = 16
        return pairs * 2 * self.rounds + 4

    def _dsn_for(self, dbname: str) -> str:
        params = conninfo_to_dict(self.admin_dsn)
        params["dbname"] = dbname
        if self.durability == "fast":
            params["options"] = (str(params.get("options") or "") + " -c synchronous_commit=off").strip()
        return make_conninfo(**params)  # type: ignore[arg-type]

    def _create_database(self, suffix: str, template: str | None = None) -> str:
        name = f"{self.prefix}{self.run_id}_{suffix}"
        query = sql.SQL("create database {}").format(sql.Identifier(name))
        if template:
            query += sql.SQL(" template {}").format(sql.Identifier(template))
        with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
            conn.execute(query)
        self.databases.append(name)
        return name

    def connect(self) -> Conn:
        """A new autocommit connection to the current group's database, closed at the end."""
        conn = psycopg.connect(self.dsn, autocommit=True)
        self.conns.append(conn)
        return conn

    def close(self) -> None:
        """Close every connection and drop every scratch database."""
        for conn in self.conns:
            conn.close()
        self.conns.clear()
        with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
            for name in reversed(self.databases):
                conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))
        self.databases.clear()

    @contextlib.contextmanager
    def group(self, suffix: str) -> Iterator[None]:
        """Run a group of workloads in a fresh copy of the template database."""
        name = self._create_database(suffix, template=self.template)
        self.dsn = self._dsn_for(name)
        try:
            yield
        finally:
            for conn in self.conns:
                conn.close()
            self.conns.clear()

    @staticmethod
    def settings(conn: Conn) -> dict[str, Any]:
        """The server settings that decide the figures, as the benchmark's sessions see them."""
        names = ("server_version", "fsync", "synchronous_commit", "full_page_writes", "shared_buffers")
        found: dict[str, Any] = {}
        for name in names:
            row = conn.execute(sql.SQL("show {}").format(sql.Identifier(name))).fetchone()
            found[name] = row[0] if row else None
        return found

    def run(self) -> dict[str, Any]:
        """Run every workload; return the report as a JSON-ready dict."""
        try:
            self.template = self._create_database("template")
            template_dsn = self._dsn_for(self.template)
            schema.migrate(template_dsn)
            with psycopg.connect(template_dsn, autocommit=True) as conn:
                conn.execute(FLOOR_SCHEMA_SQL)
                settings = self.settings(conn)
            self.progress("setup")
            results: list[Result] = []
            with self.group("writes"):
                results += self.write_workloads()
            with self.group("reads"):
                results += self.read_workloads()
            with self.group("growth"):
                results += self.growth_workload()
            with self.group("log"):
                fastest = next(r for r in results if r.key == "3").store
                results += [self.numbering_workload(fastest), self.follow_workload()]
            self.progress("done")
            return {
                "durability": self.durability,
                "settings": settings,
                "rounds": self.rounds,
                "scale": dataclasses.asdict(self.scale),
                "results": [r.as_dict() for r in results],
            }
        finally:
            self.close()

    # -- workloads 1-5 and the wrapper ------------------------------------------------------

    def write_workloads(self) -> list[Result]:
        """Workloads 1 to 5 and the wrapper's overhead."""
        s, rounds = self.scale, self.rounds
        per_block = max(1, s.single_calls // SINGLE_BLOCKS)

        def single_client(store: Op, floor: Op, label: str) -> tuple[Side, Side]:
            return interleaved(
                rounds,
                lambda: timed(per_block, store),
                lambda: timed(per_block, floor),
                self.progress,
                label,
                blocks=SINGLE_BLOCKS,
            )

        conn = self.connect()
        one = batch_json(1)
        hundred = batch_json(100)
        counter = itertools.count()

        def new_stream_store() -> tuple[int, int]:
            store_append_event(conn, f"w1-{next(counter)}", NO_STREAM)
            return 1, 0

        def new_stream_batch() -> tuple[int, int]:
            store_append(conn, f"w1-{next(counter)}", NO_STREAM, one)
            return 1, 0

        def new_stream_floor() -> tuple[int, int]:
            floor_insert(conn, f"w1-{next(counter)}", 0)
            return 1, 0

        w1 = single_client(new_stream_store, new_stream_floor, "1 new streams")

        w1_batch = single_client(new_stream_batch, new_stream_floor, "1b new streams, one-event batches")

        versions = {"store": -1, "floor": -1, "batch": -1}

        def exact_store() -> tuple[int, int]:
            versions["store"] = store_append_event(conn, "w2-stream", versions["store"])
            return 1, 0

        def exact_batch() -> tuple[int, int]:
            versions["batch"] = store_append(conn, "w2b-stream", versions["batch"], one)
            return 1, 0

        def exact_floor() -> tuple[int, int]:
            versions["floor"] += 1
            floor_insert(conn, "w2-stream", versions["floor"])
            return 1, 0

        w2 = single_client(exact_store, exact_floor, "2 one stream")
        w2_batch = single_client(exact_batch, exact_floor, "2b one stream, one-event batches")

        def batch_store() -> tuple[int, int]:
            versions["store"] = store_append(conn, "w3-stream", versions["store"], hundred)
            return 100, 0

        def batch_floor() -> tuple[int, int]:
            first = versions["floor"] + 1
            versions["floor"] += 100
            with conn.transaction(), conn.cursor() as cur:
                cur.executemany(
                    FLOOR_INSERT_SQL,
                    [("w3-stream", first + i, EVENT_TYPE, PAYLOAD_JSON) for i in range(100)],
                )
            return 100, 0

        versions.update(store=-1, floor=-1)
        w3 = interleaved(
            rounds,
            lambda: timed(s.batch_calls, batch_store),
            lambda: timed(s.batch_calls, batch_floor),
            self.progress,
            "3 batches of 100",
        )

        w4 = self._clients_workload()
        w5 = self._race_workload()
        wrapper = self._wrapper_workloads()

        w5_target = Target(
            "successful appends >= 0.5 x workload 2's rate",
            w5[0].rate / w2[0].rate if w2[0].rate else 0.0,
            0.5,
        )
        return [
            Result("1", "one event per call, new streams", *w1, self._ratio_target(w1, 0.90)),
            Result("1b", "workload 1 as one-event batches (append_to_stream)", *w1_batch, None),
            Result("2", "one event per call, one stream, exact version", *w2, self._ratio_target(w2, 0.90)),
            Result("2b", "workload 2 as one-event batches (append_to_stream)", *w2_batch, None),
            Result(
                "3", "100 events per call (floor: 100 pipelined INSERTs)", *w3, self._ratio_target(w3, 1.0)
            ),
            Result("4", "one event per call, 8 clients, one category", *w4, self._ratio_target(w4, 0.90)),
            Result(
                "5",
                "4 clients racing on one stream, retry on conflict",
                *w5,
                w5_target,
                note=f"conflict rate {self._conflict_rate(w5[0]):.1%} "
                f"(floor {self._conflict_rate(w5[1]):.1%})",
            ),
            *wrapper,
        ]

    @staticmethod
    def _ratio_target(sides: tuple[Side, Side], bound: float) -> Target:
        store, floor = sides
        return Target(f"ratio to floor >= {bound:.2f}", store.rate / floor.rate if floor.rate else 0.0, bound)

    @staticmethod
    def _conflict_rate(side: Side) -> float:
        attempts = side.events + side.conflicts
        return side.conflicts / attempts if attempts else 0.0

    def _clients_workload(self) -> tuple[Side, Side]:
        clients = 8
        store_conns = [self.connect() for _ in range(clients)]
        floor_conns = [self.connect() for _ in range(clients)]
        store_versions = [-1] * clients
        floor_versions = [-1] * clients

        def store_op(i: int) -> Op:
            def op() -> tuple[int, int]:
                store_versions[i] = store_append_event(store_conns[i], f"w4-{i}", store_versions[i])
                return 1, 0

            return op

        def floor_op(i: int) -> Op:
            def op() -> tuple[int, int]:
                floor_versions[i] += 1
                floor_insert(floor_conns[i], f"w4-{i}", floor_versions[i])
                return 1, 0

            return op

        return interleaved(
            self.rounds,
            lambda: timed_concurrently(self.scale.clients_calls, [store_op(i) for i in range(clients)]),
            lambda: timed_concurrently(self.scale.clients_calls, [floor_op(i) for i in range(clients)]),
            self.progress,
            "4 eight clients",
        )

    def _race_workload(self) -> tuple[Side, Side]:
        clients = 4
        store_conns = [self.connect() for _ in range(clients)]
        floor_conns = [self.connect() for _ in range(clients)]
        known_store = [-1] * clients
        known_floor = [-1] * clients

        def store_op(i: int) -> Op:
            def op() -> tuple[int, int]:
                conflicts = 0
                while True:
                    try:
                        known_store[i] = store_append_event(store_conns[i], "w5-race", known_store[i])
                        return 1, conflicts
                    except psycopg.Error as error:
                        if error.sqlstate != "ES409" or error.diag.message_detail is None:
                            raise
                        known_store[i] = json.loads(error.diag.message_detail)["actual_version"]
                        conflicts += 1

            return op

        def floor_op(i: int) -> Op:
            def op() -> tuple[int, int]:
                conflicts = 0
                conn = floor_conns[i]
                while True:
                    try:
                        floor_insert(conn, "w5-race", known_floor[i] + 1)
                        known_floor[i] += 1
                        return 1, conflicts
                    except psycopg.errors.UniqueViolation:
                        row = conn.execute(
                            "select max(version) from bench_floor.events where stream_id = 'w5-race'"
                        ).fetchone()
                        known_floor[i] = row[0] if row and row[0] is not None else -1
                        conflicts += 1

            return op

        return interleaved(
            self.rounds,
            lambda: timed_concurrently(self.scale.race_calls, [store_op(i) for i in range(clients)]),
            lambda: timed_concurrently(self.scale.race_calls, [floor_op(i) for i in range(clients)]),
            self.progress,
            "5 racing clients",
        )

    def _wrapper_workloads(self) -> list[Result]:
        """Workloads 1 and 3 through EventStore against the same SQL call through bare psycopg."""
        conn = self.connect()
        store = EventStore(conn)
        counter = itertools.count()
        one_event = [NewEvent(EVENT_TYPE, PAYLOAD)]
        hundred_events = [NewEvent(EVENT_TYPE, PAYLOAD) for _ in range(100)]

        def wrapped(events: list[NewEvent]) -> Op:
            def op() -> tuple[int, int]:
                if len(events) == 1:
                    store.append_event(f"wrap-{next(counter)}", events[0], NO_STREAM)
                else:
                    store.append(f"wrap-{next(counter)}", events, NO_STREAM)
                return len(events), 0

            return op

        def bare(events: list[NewEvent]) -> Op:
            def op() -> tuple[int, int]:
                if len(events) == 1:
                    row = (
                        f"wrap-{next(counter)}",
                        NO_STREAM,
                        events[0].type,
                        json.dumps(events[0].data),
                        None,
                        None,
                    )
                    conn.execute(APPEND_EVENT_SQL, row).fetchone()
                else:
                    payload = json.dumps([{"type": e.type, "data": e.data} for e in events])
                    store_append(conn, f"wrap-{next(counter)}", NO_STREAM, payload)
                return len(events), 0

            return op

        results = []
        for key, events, calls in (
            ("w1", one_event, self.scale.single_calls),
            ("w3", hundred_events, self.scale.batch_calls),
        ):
            sides = interleaved(
                self.rounds,
                lambda ev=events, n=calls: timed(n, wrapped(ev)),  # type: ignore[misc]
                lambda ev=events, n=calls: timed(n, bare(ev)),  # type: ignore[misc]
                self.progress,
                f"wrapper {key}",
            )
            results.append(
                Result(
                    key,
                    f"wrapper: workload {key[1:]} through EventStore (floor: same SQL, bare psycopg)",
                    *sides,
                    Target("ratio to bare psycopg >= 0.85", sides[0].rate / sides[1].rate, 0.85),
                )
            )
        return results

    # -- workloads 6-8 -----------------------------------------------------------------------

    def _copy_to_floor(self, conn: Conn) -> None:
        """Make the floor tables hold exactly the store's rows."""
        for table in ("events", "snapshots"):
            conn.execute(
                sql.SQL(
                    "insert into bench_floor.{} overriding system value select * from eventstore.{}"
                ).format(sql.Identifier(table), sql.Identifier(table))
                if table == "events"
                else sql.SQL("insert into bench_floor.{} select * from eventstore.{}").format(
                    sql.Identifier(table), sql.Identifier(table)
                )
            )
        conn.execute(
            "select setval(pg_get_serial_sequence('bench_floor.events', 'global_position'), "
            "(select max(global_position) from bench_floor.events))"
        )
        conn.execute("vacuum analyze bench_floor.events, eventstore.events, eventstore.log")

    def _fill_stream(
        self, conn: Conn, stream_id: str, length: int, batch: int, snapshot_every: int | None = None
    ) -> None:
        """Append ``length`` events to a new stream through the store, ``batch`` per call."""
        version = -1
        payload = batch_json(batch)
        while version + 1 < length:
            version = store_append(conn, stream_id, version, payload)
            if snapshot_every and (version + 1) % snapshot_every == 0:
                conn.execute(
                    "select eventstore.save_snapshot(%s, %s, %s::jsonb)",
                    (stream_id, version, json.dumps({"events": version + 1})),
                )

    def read_workloads(self) -> list[Result]:
        """Workloads 6 (read_all), 7 (read_stream) and 8 (aggregate loads)."""
        s = self.scale
        conn = self.connect()
        small, large = s.aggregate_sizes
        self._fill_stream(conn, "w7-stream", s.stream_length, min(s.stream_length, 1000))
        self._fill_stream(conn, "agg-small", small, 100, snapshot_every=100)
        self._fill_stream(conn, "agg-large", large, 100, snapshot_every=100)
        # Workload 6 reads a numbered log, as the store's own read did before log numbers;
        # workload 10 measures the numbering.
        row = conn.execute("select count(*) from eventstore.events").fetchone()
        number_backlog(conn, row[0] if row else 0)
        self._copy_to_floor(conn)
        self.progress("fill")

        w6, w6_note = self._read_all_workload(conn)

        def read_stream(query: str) -> Op:
            def op() -> tuple[int, int]:
                rows = conn.execute(query, ("w7-stream", 0, s.stream_length)).fetchall()
                return len(rows), 0

            return op

        w7 = interleaved(
            self.rounds,
            lambda: timed(s.read_stream_calls, read_stream(STORE_READ_STREAM_SQL)),
            lambda: timed(s.read_stream_calls, read_stream(FLOOR_READ_STREAM_SQL)),
            self.progress,
            "7 read_stream",
        )
        w8, note = self._aggregate_workloads(conn)
        results = [
            Result(
                "6",
                "read_all of the whole log, pages of 1000",
                *w6,
                None if w6_note else self._ratio_target(w6, 0.80),
                w6_note,
            ),
            Result(
                "7", f"read_stream of a {s.stream_length}-event stream", *w7, self._ratio_target(w7, 0.80)
            ),
        ]
        small_sides, large_sides = w8
        growth = large_sides[0].percentile_ms(50) / small_sides[0].percentile_ms(50)
        results.append(Result("8a", f"load a {small}-event aggregate", *small_sides, None, note))
        results.append(
            Result(
                "8b",
                f"load a {large}-event aggregate",
                *large_sides,
                Target(
                    f"p50 load time of {large} events <= 3 x that of {small}",
                    growth,
                    3.0,
                    at_least=False,
                    applies=large >= 100_000,
                ),
                note,
            )
        )
        return results

    def _read_all_workload(self, conn: Conn) -> tuple[tuple[Side, Side], str]:
        """Page through the whole log with eventstore.read_all and with a plain keyset SELECT."""
        installed = conn.execute("select to_regproc('eventstore.read_all') is not null").fetchone()
        page = 1000

        def floor_pass() -> Side:
            side = Side()
            cursor = ("0", 0)
            start = time.perf_counter()
            while True:
                began = time.perf_counter()
                rows = conn.execute(FLOOR_READ_ALL_SQL, (*cursor, page)).fetchall()
                side.latencies.append(time.perf_counter() - began)
                side.calls += 1
                side.events += len(rows)
                if len(rows) < page:
                    break
                cursor = (rows[-1][8], rows[-1][2])
            side.seconds = time.perf_counter() - start
            return side

        def store_pass() -> Side:
            side = Side()
            position = 0
            start = time.perf_counter()
            while True:
                began = time.perf_counter()
                rows = conn.execute(STORE_READ_ALL_SQL, (position, page)).fetchall()
                side.latencies.append(time.perf_counter() - began)
                side.calls += 1
                side.events += len(rows)
                if len(rows) < page:
                    break
                position = rows[-1][0]
            side.seconds = time.perf_counter() - start
            return side

        if not installed or not installed[0]:
            for _ in range(self.rounds * 2):
                self.progress("6 read_all")
            return (Side(), Side()), "not measured: eventstore.read_all is not installed"
        return interleaved(self.rounds, store_pass, floor_pass, self.progress, "6 read_all"), ""

    def _aggregate_workloads(self, conn: Conn) -> tuple[tuple[tuple[Side, Side], tuple[Side, Side]], str]:
        """Load the small and the large aggregate through the store and through plain SQL."""
        counter = AggregateType(
            "BenchCounter",
            {"events": 0},
            snapshot_every=100,
            reducers={EVENT_TYPE: lambda state, event: {"events": state["events"] + 1}},
        )
        repository = Repository(EventStore(conn), counter)
        note = "Repository.load (load_stream: snapshot + later events, one call), snapshots every 100"

        def store_load(stream_id: str) -> Op:
            def op() -> tuple[int, int]:
                aggregate = repository.load(stream_id)
                return aggregate.replayed + (0 if aggregate.snapshot_version is None else 1), 0

            return op

        def floor_load(stream_id: str) -> Op:
            def op() -> tuple[int, int]:
                snapshot = conn.execute(FLOOR_SNAPSHOT_SQL, (stream_id,)).fetchone()
                after = snapshot[0] if snapshot else -1
                rows = conn.execute(FLOOR_TAIL_SQL, (stream_id, after)).fetchall()
                return len(rows) + (1 if snapshot else 0), 0

            return op

        sides = []
        for stream_id in ("agg-small", "agg-large"):
            sides.append(
                interleaved(
                    self.rounds,
                    lambda sid=stream_id: timed(self.scale.aggregate_loads, store_load(sid)),  # type: ignore[misc]
                    lambda sid=stream_id: timed(self.scale.aggregate_loads, floor_load(sid)),  # type: ignore[misc]
                    self.progress,
                    f"8 load {stream_id}",
                )
            )
        return (sides[0], sides[1]), note

    # -- workload 9 --------------------------------------------------------------------------

    def growth_workload(self) -> list[Result]:
        """Workload 1 on an empty store and on a filled one, their rounds interleaved.

        Two databases, one filled first: measuring "empty" and "full" one after the other
        would compare two different moments of a shared machine, not two store sizes.
        """
        s = self.scale
        fill = GROWTH_FILL if self.growth else s.growth_fill
        full_conn = self.connect()
        empty_conn = psycopg.connect(self._dsn_for(self._create_database("growth_empty", self.template)))
        empty_conn.autocommit = True
        self.conns.append(empty_conn)

        batch = 1000
        payload = batch_json(batch)
        for start in range(0, fill, batch):
            store_append(
                full_conn,
                f"fill-{start // batch}",
                NO_STREAM,
                payload if start + batch <= fill else batch_json(fill - start),
            )
        full_conn.execute(
            "insert into bench_floor.events (stream_id, version, event_id, event_type, data) "
            "select 'fill-' || (g / %s), g %% %s, gen_random_uuid(), %s, %s::jsonb "
            "from generate_series(0, %s - 1) g",
            (batch, batch, EVENT_TYPE, PAYLOAD_JSON, fill),
        )
        full_conn.execute("vacuum analyze")
        self.progress("fill")

        counter = itertools.count()
        per_block = max(1, s.single_calls // SINGLE_BLOCKS)

        def store_round(conn: Conn) -> Callable[[], Side]:
            def op() -> tuple[int, int]:
                store_append_event(conn, f"w9-{next(counter)}", NO_STREAM)
                return 1, 0

            return lambda: timed(per_block, op)

        def floor_round(conn: Conn) -> Callable[[], Side]:
            def op() -> tuple[int, int]:
                floor_insert(conn, f"w9-{next(counter)}", 0)
                return 1, 0

            return lambda: timed(per_block, op)

        sides = {
            "store empty": (Side(), store_round(empty_conn)),
            "floor empty": (Side(), floor_round(empty_conn)),
            "store full": (Side(), store_round(full_conn)),
            "floor full": (Side(), floor_round(full_conn)),
        }
        names = list(sides)
        for number in range(self.rounds * SINGLE_BLOCKS):
            for name in names[number % 4 :] + names[: number % 4]:
                total, run = sides[name]
                total.add(run())
                if number % SINGLE_BLOCKS == SINGLE_BLOCKS - 1:
                    self.progress(f"9 {name}")
        empty = (sides["store empty"][0], sides["floor empty"][0])
        full = (sides["store full"][0], sides["floor full"][0])
        ratio = full[0].rate / empty[0].rate if empty[0].rate else 0.0
        return [
            Result("9a", "workload 1 on an empty store", *empty, None),
            Result(
                "9b",
                f"workload 1 after {fill:,} events (rounds interleaved with 9a)",
                *full,
                Target(
                    "rate after 5,000,000 events >= 0.80 x the empty store's",
                    ratio,
                    0.80,
                    applies=fill >= GROWTH_FILL,
                ),
                ""
                if fill >= GROWTH_FILL
                else f"fill of {fill:,} events only: run with --growth for 5,000,000",
            ),
        ]

    # -- workloads 10 and 11: the log numbers -------------------------------------------------

    def numbering_workload(self, fastest_append: Side) -> Result:
        """Workload 10: number a backlog nothing has read, against appending that backlog.

        Each round appends the backlog in 100-event batches (the fastest append workload,
        3, as new streams), then numbers it: the numbering is compared with the appending
        it follows and with workload 3's rate in the same run.
        """
        conn = self.connect()
        backlog = self.scale.numbering_backlog
        hundred = batch_json(100)
        streams = itertools.count()

        def append_batch() -> tuple[int, int]:
            store_append(conn, f"w10-{next(streams)}", NO_STREAM, hundred)
            return 100, 0

        numbering, appending = Side(), Side()
        for _ in range(self.rounds):
            appending.add(timed(backlog // 100, append_batch))
            self.progress("10 append a backlog")
            numbering.add(number_backlog(conn, appending.events - numbering.events))
            self.progress("10 number_log")
        versus_fastest = numbering.rate / fastest_append.rate if fastest_append.rate else 0.0
        return Result(
            "10",
            f"number_log of {backlog:,} unread events per round, 10,000 per call "
            "(floor: appending them, 100 per call)",
            numbering,
            appending,
            Target("events numbered/s >= workload 3's appended/s", versus_fastest, 1.0),
            f"workload 3 appended {fastest_append.rate:,.0f} events/s",
            {
                "numbered_per_s": round(numbering.rate, 1),
                "workload_3_per_s": round(fastest_append.rate, 1),
                "numbered_per_workload_3": round(versus_fastest, 3),
                "number_log_calls": numbering.calls,
            },
        )

    def follow_workload(self) -> Result:
        """Workload 11: commit-to-readable latency while 8 clients append one event per call.

        A reader thread follows the log as a subscriber does (EventStore.read_log, pages
        of 1,000 by log number, polling every POLL_INTERVAL once caught up; no NOTIFY),
        and it alone numbers the events (through read_all): the default setup, no daemon.
        An event's latency is the time the reader first got it minus the time its writer
        got the commit's acknowledgement, both on this process's clock. The floor is the
        same writers with no reader: the ratio is what following the log costs them.
        """
        writers = [self.connect() for _ in range(FOLLOW_WRITERS)]
        store = EventStore(self.connect())
        versions = [-1] * FOLLOW_WRITERS
        # global_position -> when its writer got the commit acknowledgement
        acked: dict[int, float] = {}
        cursor: list[Any] = [0, None]  # the reader's log number and the id of that event
        latencies: list[float] = []
        counts = {"missed": 0, "repeated": 0}

        def writer(i: int) -> Op:
            def op() -> tuple[int, int]:
                row = (
                    writers[i]
                    .execute(STORE_APPEND_EVENT_SQL, (f"w11-{i}", versions[i], EVENT_TYPE, PAYLOAD_JSON))
                    .fetchone()
                )
                # autocommit: the result arrives once the append has committed
                acked_at = time.perf_counter()
                assert row is not None
                versions[i], position = row[0], row[1]
                acked[position] = acked_at
                return 1, 0

            return op

        def follow(
            writers_done: threading.Event, received: dict[int, float], failures: list[BaseException]
        ) -> None:
            try:
                drain_until: float | None = None
                while True:
                    got = 0
                    for event in store.read_log(LogFilter(), cursor[0], after_event_id=cursor[1]):
                        now = time.perf_counter()
                        if event.global_position in received:
                            counts["repeated"] += 1
                        else:
                            received[event.global_position] = now
                        cursor[:] = [event.log_number, event.id]
                        got += 1
                    if writers_done.is_set():
                        if acked.keys() <= received.keys():
                            return
                        drain_until = drain_until or time.perf_counter() + DRAIN_SECONDS
                        if time.perf_counter() > drain_until:
                            return
                    if not got:
                        time.sleep(POLL_INTERVAL)
            except BaseException as error:  # re-raised on the main thread
                failures.append(error)

        def with_reader() -> Side:
            # Start at the head: what the rounds without a reader appended is not measured.
            cursor[:] = [store.log_head(), None]
            acked.clear()
            received: dict[int, float] = {}
            failures: list[BaseException] = []
            writers_done = threading.Event()
            reader = threading.Thread(target=follow, args=(writers_done, received, failures))
            reader.start()
            try:
                side = timed_concurrently(0, ops, seconds=self.scale.follow_seconds)
            finally:
                writers_done.set()
                reader.join()
            if failures:
                raise failures[0]
            for position, acked_at in acked.items():
                if position in received:
                    latencies.append(received[position] - acked_at)
                else:
                    counts["missed"] += 1
            return side

        ops = [writer(i) for i in range(FOLLOW_WRITERS)]
        # A session's first append checks the log frame: not part of the measure.
        for op in ops:
            op()
        sides = interleaved(
            self.rounds,
            with_reader,
            lambda: timed_concurrently(0, ops, seconds=self.scale.follow_seconds),
            self.progress,
            "11 commit to readable",
        )
        delay = Side(latencies=latencies)
        details = {
            "events": len(latencies),
            "p50_ms": round(delay.percentile_ms(50), 3),
            "p99_ms": round(delay.percentile_ms(99), 3),
            "min_ms": round(min(latencies) * 1000, 3) if latencies else 0.0,
            "max_ms": round(max(latencies) * 1000, 3) if latencies else 0.0,
            "missed": counts["missed"],
            "repeated": counts["repeated"],
            "writers": FOLLOW_WRITERS,
            "poll_interval_ms": POLL_INTERVAL * 1000,
            "appends_per_s": round(sides[0].rate, 1),
        }
        return Result(
            "11",
            f"commit to readable: {FOLLOW_WRITERS} clients append one event per call, one reader "
            f"follows read_all (polls every {POLL_INTERVAL * 1000:g} ms) and numbers (floor: no reader)",
            *sides,
            None,
            f"commit to readable p50 {details['p50_ms']:.2f} ms, p99 {details['p99_ms']:.2f} ms, "
            f"max {details['max_ms']:.2f} ms over {details['events']:,} events; "
            f"missed {details['missed']}, repeated {details['repeated']}",
            details,
        )


def format_table(report: dict[str, Any]) -> str:
    """The report as a plain-text table."""
    header = (
        f"{'workload':<6} {'store ev/s':>11} {'floor ev/s':>11} {'ratio':>6}  "
        f"{'store p50/p99 ms':>17} {'floor p50/p99 ms':>17}  target"
    )
    lines = [
        f"durability: {report['durability']}  "
        + "  ".join(f"{k}={v}" for k, v in report["settings"].items())
        + f"  rounds={report['rounds']}",
        header,
        "-" * len(header),
    ]
    for row in report["results"]:
        store, floor, target = row["store"], row["floor"], row["target"]
        verdict = ""
        if target is not None:
            met = {True: "ok", False: "MISSED", None: "n/a"}[target["met"]]
            verdict = f"{target['measured']:.2f} ({target['text']}): {met}"
        lines.append(
            f"{row['key']:<6} {store['events_per_s']:>11,.0f} {floor['events_per_s']:>11,.0f} "
            f"{row['ratio_to_floor']:>6.2f}  "
            f"{store['p50_ms']:>8.2f}/{store['p99_ms']:<8.2f} "
            f"{floor['p50_ms']:>8.2f}/{floor['p99_ms']:<8.2f}  "
            f"{verdict}"
        )
        if row["note"]:
            lines.append(f"{'':<6} {row['title']}; {row['note']}")
        else:
            lines.append(f"{'':<6} {row['title']}")
    return "\n".join(lines)


def plot(reports: list[dict[str, Any]], path: str) -> None:
    """Draw the ratios to the floor as a bar chart (PNG); needs the ``bench`` extra (matplotlib)."""
    import matplotlib  # optional: the 'bench' extra

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(reports), 1, figsize=(10, 4 * len(reports)), squeeze=False)
    for axis, report in zip(axes[:, 0], reports, strict=True):
        keys = [r["key"] for r in report["results"]]
        ratios = [r["ratio_to_floor"] for r in report["results"]]
        colors = [
            {True: "tab:green", False: "tab:red", None: "tab:gray"}[
                r["target"]["met"] if r["target"] else None
            ]
            for r in report["results"]
        ]
        axis.bar(keys, ratios, color=colors)
        axis.axhline(1.0, color="black", linewidth=0.8)
        axis.set_ylabel("store rate / floor rate")
        axis.set_title(f"pgeventstore vs plain SQL ({report['durability']}); green: target met")
    fig.tight_layout()
    fig.savefig(path)


def format_markdown(report: dict[str, Any]) -> str:
    """The report as a Markdown table (the form docs/performance.md shows)."""
    settings = report["settings"]
    lines = [
        f"fsync={settings['fsync']}, synchronous_commit={settings['synchronous_commit']}, "
        f"full_page_writes={settings['full_page_writes']}, {report['rounds']} rounds, "
        f"PostgreSQL {str(settings['server_version']).split()[0]}",
        "",
        "| # | workload | store ev/s | floor ev/s | ratio | store p50 / p99 ms | floor p50 / p99 ms "
        "| target | holds |",
        "|---|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for row in report["results"]:
        store, floor, target = row["store"], row["floor"], row["target"]
        holds = "" if target is None else {True: "yes", False: "**no**", None: "n/a"}[target["met"]]
        target_text = "" if target is None else f"{target['text']}: {target['measured']:.2f}"
        title = row["title"] + (f" ({row['note']})" if row["note"] else "")
        lines.append(
            f"| {row['key']} | {title} | {store['events_per_s']:,.0f} | {floor['events_per_s']:,.0f} | "
            f"{row['ratio_to_floor']:.2f} | {store['p50_ms']:.2f} / {store['p99_ms']:.2f} | "
            f"{floor['p50_ms']:.2f} / {floor['p99_ms']:.2f} | {target_text} | {holds} |"
        )
    return "\n".join(lines)
