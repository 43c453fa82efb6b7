"""The Python client of the store: one method per SQL function of the ``eventstore`` schema.

The methods call the database and add nothing it decides: version checks, validation and
idempotency are the SQL functions'. Failures surface as the exceptions of
:mod:`pgeventstore.errors`.

Each method is described once, as a :class:`Call` built by :class:`StoreCalls` (the
statement, its parameters and how to read its rows); :class:`EventStore` here and
:class:`~pgeventstore.async_store.AsyncEventStore` only execute calls, each with its
own kind of connection.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Generic, TypeVar

import psycopg
from psycopg.rows import tuple_row
from psycopg_pool import ConnectionPool

from pgeventstore.codec import JsonCodec, JsonDefault, JsonDumps, JsonLoads
from pgeventstore.errors import translated
from pgeventstore.values import (
    ANY,
    AppendResult,
    ExpectedVersion,
    LoadedStream,
    NewEvent,
    RecordedEvent,
    Snapshot,
    StatsEntry,
    StoreStats,
    StreamInfo,
)

__all__ = [
    "Call",
    "ConsumerGroup",
    "EventStore",
    "JsonCodec",
    "JsonDumps",
    "JsonLoads",
    "LogFilter",
    "StoreCalls",
    "SubscriptionLag",
]

T = TypeVar("T")
Rows = list[tuple[Any, ...]]

APPEND_SQL = (
    "select stream_version, first_position, last_position "
    "from eventstore.append_to_stream(%s::text, %s::bigint, %s::jsonb)"
)
APPEND_EVENT_SQL = (
    "select stream_version, first_position, last_position "
    "from eventstore.append_event(%s::text, %s::bigint, %s::text, %s::jsonb, %s::jsonb, %s::uuid)"
)
#: The columns of ``eventstore.recorded_event``, JSON as text (the codec parses it).
EVENT_COLUMNS = (
    "stream_id, version, global_position, event_id, event_type, data::text, metadata::text, recorded_at"
)
READ_STREAM_SQL = (
    f"select {EVENT_COLUMNS} from eventstore.read_stream(%s::text, %s::bigint, %s::integer, %s::boolean)"
)
STREAM_VERSION_SQL = "select eventstore.stream_version(%s::text)"
SAVE_SNAPSHOT_SQL = "select eventstore.save_snapshot(%s::text, %s::bigint, %s::jsonb, %s::integer)"
LOAD_SNAPSHOT_SQL = (
    "select version, state::text, schema_version, recorded_at from eventstore.load_snapshot(%s::text)"
)
LOAD_STREAM_SQL = (
    "select kind, version, global_position, event_id, event_type, data::text, metadata::text, "
    "recorded_at, snapshot_schema_version from eventstore.load_stream(%s::text, %s::integer)"
)
LIST_STREAMS_SQL = (
    "select stream_id, version, created_at, updated_at "
    "from eventstore.list_streams(%s::text, %s::integer, %s::text)"
)
SCHEMA_VERSION_SQL = "select eventstore.version()"
IS_PROCESSED_SQL = "select eventstore.is_processed(%s::bigint, %s::bigint)"
STATS_SQL = "select kind, name, streams, events, snapshots, payload_bytes, disk_bytes from eventstore.stats()"
#: The columns of ``eventstore.log_event`` in the order :meth:`JsonCodec.recorded_event` reads them.
LOG_EVENT_COLUMNS = f"{EVENT_COLUMNS}, log_number"
READ_ALL_SQL = (
    f"select {LOG_EVENT_COLUMNS} from eventstore.read_all("
    "%s::bigint, %s::integer, %s::text[], %s::text, %s::uuid)"
)
READ_CATEGORY_SQL = (
    f"select {LOG_EVENT_COLUMNS} from eventstore.read_category("
    "%s::text, %s::bigint, %s::integer, %s::integer, %s::integer, %s::text[], %s::uuid)"
)
NUMBER_LOG_SQL = "select eventstore.number_log()"
LOG_HEAD_SQL = "select eventstore.log_head()"
LOAD_CHECKPOINT_SQL = "select eventstore.load_checkpoint(%s::text)"
SAVE_CHECKPOINT_SQL = "select eventstore.save_checkpoint(%s::text, %s::bigint, %s::bigint)"
SUBSCRIPTION_LAG_SQL = (
    'select subscription, "position", events_behind, events_held_back, held_back_by_pid, '
    "held_back_since, updated_at from eventstore.subscription_lag()"
)


@dataclasses.dataclass(frozen=True)
class ConsumerGroup:
    """Member ``member`` (0-based) of a group of ``size`` sharing one category by stream."""

    member: int
    size: int


@dataclasses.dataclass(frozen=True)
class LogFilter:
    """Which part of the global log a reader follows: all of it, a category, some types."""

    category: str | None = None
    event_types: Sequence[str] | None = None
    group: ConsumerGroup | None = None

    def __post_init__(self) -> None:
        # A lone string is a Sequence[str] too, and would filter on its characters.
        if isinstance(self.event_types, str):
            raise TypeError(f"event_types must be a sequence of names, not the string {self.event_types!r}")

    def query(
        self, after: int, limit: int, after_event_id: uuid.UUID | None = None
    ) -> tuple[str, tuple[Any, ...]]:
        """The SQL and parameters reading ``limit`` events after the log number ``after``.

        ``after_event_id``, the id of the event numbered ``after``, makes the database
        check that the log still has it there (ES419 otherwise).
        """
        types = list(self.event_types) if self.event_types is not None else None
        if self.group is not None:
            if self.category is None:
                raise ValueError("a consumer group shares a category: give category too")
            return READ_CATEGORY_SQL, (
                self.category,
                after,
                limit,
                self.group.member,
                self.group.size,
                types,
                after_event_id,
            )
        return READ_ALL_SQL, (after, limit, types, self.category, after_event_id)


@dataclasses.dataclass(frozen=True)
class SubscriptionLag:
    """One row of ``eventstore.subscription_lag()``; ``position`` is the checkpoint, a log number."""

    subscription: str
    position: int
    events_behind: int
    events_held_back: int
    held_back_by_pid: int | None
    held_back_since: datetime.datetime | None
    updated_at: datetime.datetime


@dataclasses.dataclass(frozen=True)
class Call(Generic[T]):
    """One statement of the SQL API, its parameters, and how its rows become the result."""

    query: str
    params: tuple[Any, ...]
    parse: Callable[[Rows], T]


def _stats(rows: Rows) -> StoreStats:
    total = next(row for row in rows if row[0] == "total")
    entries = {
        kind: tuple(
            StatsEntry(name, streams, events, snaps, size)
            for k, name, streams, events, snaps, size, _ in rows
            if k == kind
        )
        for kind in ("category", "type")
    }
    return StoreStats(
        streams=total[2],
        events=total[3],
        snapshots=total[4],
        payload_bytes=total[5],
        disk_bytes=total[6],
        categories=entries["category"],
        types=entries["type"],
    )


class StoreCalls:
    """Builds the :class:`Call` behind every store method; shared by the sync and async stores."""

    def __init__(self, codec: JsonCodec) -> None:
        self.codec = codec

    def append(
        self, stream_id: str, events: Iterable[NewEvent], expected_version: ExpectedVersion
    ) -> Call[AppendResult]:
        """``eventstore.append_to_stream``."""
        params = (stream_id, expected_version, self.codec.events_payload(events))
        return Call(APPEND_SQL, params, lambda rows: AppendResult(*rows[0]))

    def append_event(
        self, stream_id: str, event: NewEvent, expected_version: ExpectedVersion
    ) -> Call[AppendResult]:
        """``eventstore.append_event``: one event, its data and metadata as separate JSON values."""
        metadata = None if event.metadata is None else self.codec.dumps(event.metadata)
        params = (stream_id, expected_version, event.type, self.codec.dumps(event.data), metadata, event.id)
        return Call(APPEND_EVENT_SQL, params, lambda rows: AppendResult(*rows[0]))

    def read_stream(
        self, stream_id: str, from_version: int | None, limit: int, backward: bool
    ) -> Call[list[RecordedEvent]]:
        """``eventstore.read_stream``; ``from_version`` None is the first event (the last backward)."""
        start = from_version if from_version is not None else (-1 if backward else 0)
        return Call(
            READ_STREAM_SQL,
            (stream_id, start, limit, backward),
            lambda rows: [self.codec.recorded_event(row) for row in rows],
        )

    def stream_version(self, stream_id: str) -> Call[int]:
        """``eventstore.stream_version``."""
        return Call(STREAM_VERSION_SQL, (stream_id,), lambda rows: int(rows[0][0]))

    def save_snapshot(self, stream_id: str, version: int, state: Any, schema_version: int) -> Call[bool]:
        """``eventstore.save_snapshot``."""
        params = (stream_id, version, self.codec.dumps(state), schema_version)
        return Call(SAVE_SNAPSHOT_SQL, params, lambda rows: bool(rows[0][0]))

    def load_snapshot(self, stream_id: str) -> Call[Snapshot | None]:
        """``eventstore.load_snapshot``."""

        def parse(rows: Rows) -> Snapshot | None:
            if not rows:
                return None
            version, state, schema_version, recorded_at = rows[0]
            return Snapshot(stream_id, version, self.codec.loads(state), schema_version, recorded_at)

        return Call(LOAD_SNAPSHOT_SQL, (stream_id,), parse)

    def load_stream(self, stream_id: str, schema_version: int | None) -> Call[LoadedStream]:
        """``eventstore.load_stream``."""
        return Call(
            LOAD_STREAM_SQL,
            (stream_id, schema_version),
            lambda rows: self.codec.loaded_stream(stream_id, rows),
        )

    def list_streams(self, category: str | None, limit: int, after: str | None) -> Call[list[StreamInfo]]:
        """``eventstore.list_streams``."""
        return Call(
            LIST_STREAMS_SQL, (category, limit, after), lambda rows: [StreamInfo(*row) for row in rows]
        )

    def stats(self) -> Call[StoreStats]:
        """``eventstore.stats``."""
        return Call(STATS_SQL, (), _stats)

    def schema_version(self) -> Call[str]:
        """``eventstore.version``."""
        return Call(SCHEMA_VERSION_SQL, (), lambda rows: str(rows[0][0]))

    def is_processed(self, checkpoint: int, position: int) -> Call[bool]:
        """``eventstore.is_processed``."""
        return Call(IS_PROCESSED_SQL, (checkpoint, position), lambda rows: bool(rows[0][0]))

    def read_log(
        self, log_filter: LogFilter, after: int, limit: int, after_event_id: uuid.UUID | None = None
    ) -> Call[list[RecordedEvent]]:
        """``eventstore.read_all`` or ``eventstore.read_category``, as ``log_filter`` says."""
        query, params = log_filter.query(after, limit, after_event_id)
        return Call(query, params, lambda rows: [self.codec.recorded_event(row) for row in rows])

    def number_log(self) -> Call[int]:
        """``eventstore.number_log``."""
        return Call(NUMBER_LOG_SQL, (), lambda rows: int(rows[0][0]))

    def log_head(self) -> Call[int]:
        """``eventstore.log_head``."""
        return Call(LOG_HEAD_SQL, (), lambda rows: int(rows[0][0]))

    def load_checkpoint(self, subscription: str) -> Call[int]:
        """``eventstore.load_checkpoint``."""
        return Call(LOAD_CHECKPOINT_SQL, (subscription,), lambda rows: int(rows[0][0]))

    def save_checkpoint(self, subscription: str, position: int, expected: int | None) -> Call[bool]:
        """``eventstore.save_checkpoint``."""
        params = (subscription, position, expected)
        return Call(SAVE_CHECKPOINT_SQL, params, lambda rows: bool(rows[0][0]))

    def subscription_lag(self) -> Call[list[SubscriptionLag]]:
        """``eventstore.subscription_lag``."""
        return Call(SUBSCRIPTION_LAG_SQL, (), lambda rows: [SubscriptionLag(*row) for row in rows])


def cursor_after(page: Sequence[RecordedEvent]) -> tuple[int, uuid.UUID]:
    """The cursor after a page of the log: its last event's log number and id."""
    last = page[-1]
    if last.log_number is None:
        raise ValueError("a page of the global log must carry log numbers")
    return last.log_number, last.id


def next_version(page: Sequence[RecordedEvent], page_size: int, backward: bool) -> int | None:
    """Where the page after ``page`` starts, or None when ``page`` was the last one."""
    if len(page) < page_size:
        return None
    following = page[-1].version + (-1 if backward else 1)
    # -1 would mean "from the end" to read_stream: version 0 was the last event backward.
    return following if following >= 0 else None


def next_stream(page: Sequence[StreamInfo], page_size: int) -> str | None:
    """The ``after`` of the listing page after ``page``, or None when it was the last one."""
    return page[-1].stream_id if len(page) == page_size else None


class EventStore:
    """A synchronous client of the store.

    ``source`` is a DSN (the store opens and owns a :class:`psycopg_pool.ConnectionPool`
    of 1 to 10 autocommit connections), a pool the application owns, or one connection
    (used as it is: without autocommit, the caller commits). Every method takes an
    optional ``conn``: the call then runs on that connection, inside the caller's
    transaction if one is open, so events and the application's own rows commit or roll
    back together. ``dumps``, ``loads`` and ``default`` configure the
    :class:`~pgeventstore.codec.JsonCodec`.
    """

    def __init__(
        self,
        source: str | ConnectionPool | psycopg.Connection[Any],
        *,
        dumps: JsonDumps | None = None,
        loads: JsonLoads | None = None,
        default: JsonDefault | None = None,
    ) -> None:
        self.codec = JsonCodec(dumps, loads, default=default)
        self.calls = StoreCalls(self.codec)
        self._pool: ConnectionPool | None = None
        self._conn: psycopg.Connection[Any] | None = None
        self._owns_pool = isinstance(source, str)
        if isinstance(source, str):
            self._pool = ConnectionPool(
                source, kwargs={"autocommit": True}, open=True, min_size=1, max_size=10
            )
        elif isinstance(source, ConnectionPool):
            self._pool = source
        else:
            self._conn = source

    def close(self) -> None:
        """Close the pool if the store opened it."""
        if self._owns_pool and self._pool is not None:
            self._pool.close()

    def __enter__(self) -> EventStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def connection(self, conn: psycopg.Connection[Any] | None = None) -> Iterator[psycopg.Connection[Any]]:
        """The connection a call runs on: ``conn``, the store's own, or one from the pool."""
        if conn is not None:
            yield conn
        elif self._conn is not None:
            yield self._conn
        else:
            assert self._pool is not None
            with self._pool.connection() as pooled:
                yield pooled

    def run(self, call: Call[T], conn: psycopg.Connection[Any] | None = None) -> T:
        """Execute ``call`` and parse its rows."""
        with self.connection(conn) as c, translated(), c.cursor(row_factory=tuple_row) as cur:
            cur.execute(call.query, call.params)
            rows = cur.fetchall()
        return call.parse(rows)

    def append(
        self,
        stream_id: str,
        events: Iterable[NewEvent],
        expected_version: ExpectedVersion = ANY,
        *,
        conn: psycopg.Connection[Any] | None = None,
    ) -> AppendResult:
        """Append ``events`` to ``stream_id``, all or nothing, if its version matches.

        Raises :class:`~pgeventstore.errors.WrongExpectedVersion` on a version mismatch.
        """
        return self.run(self.calls.append(stream_id, events, expected_version), conn)

    def append_event(
        self,
        stream_id: str,
        event: NewEvent,
        expected_version: ExpectedVersion = ANY,
        *,
        conn: psycopg.Connection[Any] | None = None,
    ) -> AppendResult:
        """Append one event (``eventstore.append_event``); the same semantics as :meth:`append`."""
        return self.run(self.calls.append_event(stream_id, event, expected_version), conn)

    def read_stream(
        self,
        stream_id: str,
        *,
        from_version: int | None = None,
        limit: int = 1000,
        backward: bool = False,
        conn: psycopg.Connection[Any] | None = None,
    ) -> list[RecordedEvent]:
        """Up to ``limit`` events of a stream, from ``from_version`` (default: first, or last backward)."""
        return self.run(self.calls.read_stream(stream_id, from_version, limit, backward), conn)

    def iter_stream(
        self,
        stream_id: str,
        *,
        from_version: int | None = None,
        backward: bool = False,
        page_size: int = 1000,
        conn: psycopg.Connection[Any] | None = None,
    ) -> Iterator[RecordedEvent]:
        """Every event of a stream from ``from_version``, read lazily one page at a time."""
        start: int | None = from_version
        while True:
            page = self.read_stream(
                stream_id, from_version=start, limit=page_size, backward=backward, conn=conn
            )
            yield from page
            start = next_version(page, page_size, backward)
            if start is None:
                return

    def stream_version(self, stream_id: str, *, conn: psycopg.Connection[Any] | None = None) -> int:
        """The version of the stream's last event, -1 when it has none."""
        return self.run(self.calls.stream_version(stream_id), conn)

    def save_snapshot(
        self,
        stream_id: str,
        version: int,
        state: Any,
        schema_version: int = 1,
        *,
        conn: psycopg.Connection[Any] | None = None,
    ) -> bool:
        """Store the stream's snapshot unless one at the same or a newer version is stored."""
        return self.run(self.calls.save_snapshot(stream_id, version, state, schema_version), conn)

    def load_snapshot(
        self, stream_id: str, *, conn: psycopg.Connection[Any] | None = None
    ) -> Snapshot | None:
        """The stream's snapshot, or None."""
        return self.run(self.calls.load_snapshot(stream_id), conn)

    def load_stream(
        self,
        stream_id: str,
        schema_version: int | None = None,
        *,
        conn: psycopg.Connection[Any] | None = None,
    ) -> LoadedStream:
        """The usable snapshot (of ``schema_version`` when given) and every later event, in one call."""
        return self.run(self.calls.load_stream(stream_id, schema_version), conn)

    def list_streams(
        self,
        *,
        category: str | None = None,
        limit: int = 100,
        after: str | None = None,
        conn: psycopg.Connection[Any] | None = None,
    ) -> list[StreamInfo]:
        """Up to ``limit`` streams, newest first, of ``category`` if given, after the stream ``after``."""
        return self.run(self.calls.list_streams(category, limit, after), conn)

    def iter_streams(
        self,
        *,
        category: str | None = None,
        page_size: int = 1000,
        conn: psycopg.Connection[Any] | None = None,
    ) -> Iterator[StreamInfo]:
        """Every stream (of ``category`` if given), newest first, read lazily one page at a time."""
        after: str | None = None
        while True:
            page = self.list_streams(category=category, limit=page_size, after=after, conn=conn)
            yield from page
            after = next_stream(page, page_size)
            if after is None:
                return

    def stats(self, *, conn: psycopg.Connection[Any] | None = None) -> StoreStats:
        """Counts and sizes: in total, per category and per event type."""
        return self.run(self.calls.stats(), conn)

    def schema_version(self, *, conn: psycopg.Connection[Any] | None = None) -> str:
        """The installed schema version: the id of the newest applied migration."""
        return self.run(self.calls.schema_version(), conn)

    def read_all(
        self,
        after: int = 0,
        *,
        event_types: Sequence[str] | None = None,
        category: str | None = None,
        page_size: int = 1000,
        conn: psycopg.Connection[Any] | None = None,
    ) -> Iterator[RecordedEvent]:
        """Every event of the global log readable now after the log number ``after``, in log order.

        ``after`` is the ``log_number`` of the last event the caller was given (0: the
        start; any integer is a valid bound); the iterator reads lazily one page at a
        time and ends when caught up.
        """
        log_filter = LogFilter(category=category, event_types=event_types)
        return self.read_log(log_filter, after, page_size=page_size, conn=conn)

    def read_category(
        self,
        category: str,
        after: int = 0,
        *,
        group: ConsumerGroup | None = None,
        event_types: Sequence[str] | None = None,
        page_size: int = 1000,
        conn: psycopg.Connection[Any] | None = None,
    ) -> Iterator[RecordedEvent]:
        """Like :meth:`read_all` for one category; with ``group``, only that member's streams."""
        log_filter = LogFilter(category=category, event_types=event_types, group=group)
        return self.read_log(log_filter, after, page_size=page_size, conn=conn)

    def read_log(
        self,
        log_filter: LogFilter,
        after: int = 0,
        *,
        page_size: int = 1000,
        after_event_id: uuid.UUID | None = None,
        conn: psycopg.Connection[Any] | None = None,
    ) -> Iterator[RecordedEvent]:
        """Like :meth:`read_all` for the part of the log ``log_filter`` selects.

        Each page after the first names the event it continues from, so a log that
        diverged meanwhile (a failover) raises :class:`LogDiverged` instead of skipping.
        """
        # A short page does not mean caught up (events of open transactions are held
        # back), so only an empty page ends the iteration.
        while page := self.run(self.calls.read_log(log_filter, after, page_size, after_event_id), conn):
            yield from page
            after, after_event_id = cursor_after(page)

    def number_log(self, *, conn: psycopg.Connection[Any] | None = None) -> int:
        """Number the events that became readable (``eventstore.number_log``); return how many.

        The log readers do it themselves; call it in its own transaction (autocommit)
        before a long transaction reads the log, so that transaction does not hold the
        numbering for others until it ends.
        """
        return self.run(self.calls.number_log(), conn)

    def log_head(self, *, conn: psycopg.Connection[Any] | None = None) -> int:
        """The newest log number (0: empty log): start after it to read only new events."""
        return self.run(self.calls.log_head(), conn)

    def load_checkpoint(self, subscription: str, *, conn: psycopg.Connection[Any] | None = None) -> int:
        """The subscription's checkpoint (log number of its last processed event), 0 if none.

        Raises :class:`LogDiverged` when the log no longer has that event at that number.
        """
        return self.run(self.calls.load_checkpoint(subscription), conn)

    def save_checkpoint(
        self,
        subscription: str,
        position: int,
        expected: int | None = None,
        *,
        conn: psycopg.Connection[Any] | None = None,
    ) -> bool:
        """Store a checkpoint, forward only or compare-and-set on ``expected``; False when it lost.

        ``position`` is the log number of the last event processed (0: none). One above the
        newest log number raises :class:`StreamNotFound`; moving forward from a checkpoint
        whose number no longer names its event raises :class:`LogDiverged` (move it with
        ``expected`` instead).
        """
        return self.run(self.calls.save_checkpoint(subscription, position, expected), conn)

    def is_processed(
        self, checkpoint: int, position: int, *, conn: psycopg.Connection[Any] | None = None
    ) -> bool:
        """Whether a consumer at ``checkpoint`` has processed the event numbered ``position``.

        Log numbers are in log order: this is ``position <= checkpoint``, asked of the database.
        """
        return self.run(self.calls.is_processed(checkpoint, position), conn)

    def subscription_lag(self, *, conn: psycopg.Connection[Any] | None = None) -> list[SubscriptionLag]:
        """Every checkpoint, how many events it is behind and which backend holds readers back."""
        return self.run(self.calls.subscription_lag(), conn)
