"""The Python client of the store: one method per SQL function of the ``eventstore`` schema.

The methods call the database and add nothing it decides: version checks, validation and
idempotency are the SQL functions'. Failures surface as the exceptions of
:mod:`pgeventstore.errors`.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from pgeventstore.errors import translated
from pgeventstore.subscription import (
    ConsumerGroup,
    LogFilter,
    SubscriptionLag,
    iter_log,
    load_checkpoint,
    save_checkpoint,
    subscription_lag,
)
from pgeventstore.values import (
    ANY,
    AppendResult,
    ExpectedVersion,
    LoadedStream,
    NewEvent,
    RecordedEvent,
    Snapshot,
)

#: Serialises Python values to JSON text.
JsonDumps = Callable[[Any], str]
#: Parses JSON text into Python values.
JsonLoads = Callable[[str], Any]

APPEND_SQL = (
    "select stream_version, first_position, last_position "
    "from eventstore.append_to_stream(%s::text, %s::bigint, %s::jsonb)"
)
READ_STREAM_SQL = (
    "select stream_id, version, global_position, event_id, event_type, data::text, metadata::text, "
    "recorded_at from eventstore.read_stream(%s::text, %s::bigint, %s::integer, %s::boolean)"
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


class JsonCodec:
    """JSON in and out: the standard library by default, or the caller's own functions."""

    def __init__(self, dumps: JsonDumps | None = None, loads: JsonLoads | None = None) -> None:
        self.dumps: JsonDumps = dumps or json.dumps
        self.loads: JsonLoads = loads or json.loads

    def load_optional(self, text: str | None) -> Any:
        """Parse ``text``, mapping SQL NULL to None."""
        return None if text is None else self.loads(text)

    def events_payload(self, events: Iterable[NewEvent]) -> str:
        """The JSON array that ``append_to_stream`` takes."""
        items: list[dict[str, Any]] = []
        for event in events:
            item: dict[str, Any] = {"type": event.type, "data": event.data}
            if event.metadata is not None:
                item["metadata"] = event.metadata
            if event.id is not None:
                item["id"] = str(event.id)
            items.append(item)
        return self.dumps(items)

    def recorded_event(self, row: Sequence[Any]) -> RecordedEvent:
        """A :class:`RecordedEvent` from a row shaped like ``READ_STREAM_SQL``'s."""
        stream_id, version, position, event_id, event_type, data, metadata, recorded_at = row[:8]
        return RecordedEvent(
            stream_id=stream_id,
            version=version,
            global_position=position,
            id=event_id,
            type=event_type,
            data=self.load_optional(data),
            metadata=self.load_optional(metadata),
            recorded_at=recorded_at,
        )

    def loaded_stream(self, stream_id: str, rows: Iterable[Sequence[Any]]) -> LoadedStream:
        """A :class:`LoadedStream` from the rows of ``LOAD_STREAM_SQL``."""
        snapshot: Snapshot | None = None
        events: list[RecordedEvent] = []
        for kind, version, position, event_id, event_type, data, metadata, recorded_at, schema in rows:
            if kind == "snapshot":
                snapshot = Snapshot(stream_id, version, self.load_optional(data), schema, recorded_at)
            else:
                events.append(
                    self.recorded_event(
                        (stream_id, version, position, event_id, event_type, data, metadata, recorded_at)
                    )
                )
        return LoadedStream(stream_id, snapshot, events)


class EventStore:
    """A synchronous client of the store.

    ``source`` is a DSN (the store opens and owns a :class:`psycopg_pool.ConnectionPool`
    of autocommit connections), a pool the application owns, or one connection. Every
    method takes an optional ``conn``: the call then runs on that connection, inside the
    caller's transaction if one is open, so events and the application's own rows commit
    or roll back together.
    """

    def __init__(
        self,
        source: str | ConnectionPool | psycopg.Connection[Any],
        *,
        dumps: JsonDumps | None = None,
        loads: JsonLoads | None = None,
    ) -> None:
        self.codec = JsonCodec(dumps, loads)
        self._pool: ConnectionPool | None = None
        self._conn: psycopg.Connection[Any] | None = None
        self._owns_pool = isinstance(source, str)
        if isinstance(source, str):
            self._pool = ConnectionPool(source, kwargs={"autocommit": True}, open=True, min_size=1)
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

    def _fetchone(self, query: str, params: Sequence[Any], conn: psycopg.Connection[Any] | None) -> Any:
        with self.connection(conn) as c, translated():
            return c.execute(query, params).fetchone()

    def _fetchall(self, query: str, params: Sequence[Any], conn: psycopg.Connection[Any] | None) -> list[Any]:
        with self.connection(conn) as c, translated():
            return c.execute(query, params).fetchall()

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
        payload = self.codec.events_payload(events)
        row = self._fetchone(APPEND_SQL, (stream_id, expected_version, payload), conn)
        return AppendResult(*row)

    def append_event(
        self,
        stream_id: str,
        event: NewEvent,
        expected_version: ExpectedVersion = ANY,
        *,
        conn: psycopg.Connection[Any] | None = None,
    ) -> AppendResult:
        """Append one event; the same semantics as :meth:`append`."""
        return self.append(stream_id, [event], expected_version, conn=conn)

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
        start = from_version if from_version is not None else (-1 if backward else 0)
        rows = self._fetchall(READ_STREAM_SQL, (stream_id, start, limit, backward), conn)
        return [self.codec.recorded_event(row) for row in rows]

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
        start = from_version
        while True:
            page = self.read_stream(
                stream_id, from_version=start, limit=page_size, backward=backward, conn=conn
            )
            yield from page
            if len(page) < page_size:
                return
            start = page[-1].version + (-1 if backward else 1)
            if start < 0:
                return

    def stream_version(self, stream_id: str, *, conn: psycopg.Connection[Any] | None = None) -> int:
        """The version of the stream's last event, -1 when it has none."""
        version: int = self._fetchone(STREAM_VERSION_SQL, (stream_id,), conn)[0]
        return version

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
        params = (stream_id, version, self.codec.dumps(state), schema_version)
        saved: bool = self._fetchone(SAVE_SNAPSHOT_SQL, params, conn)[0]
        return saved

    def load_snapshot(
        self, stream_id: str, *, conn: psycopg.Connection[Any] | None = None
    ) -> Snapshot | None:
        """The stream's snapshot, or None."""
        row = self._fetchone(LOAD_SNAPSHOT_SQL, (stream_id,), conn)
        if row is None:
            return None
        version, state, schema_version, recorded_at = row
        return Snapshot(stream_id, version, self.codec.loads(state), schema_version, recorded_at)

    def load_stream(
        self,
        stream_id: str,
        schema_version: int | None = None,
        *,
        conn: psycopg.Connection[Any] | None = None,
    ) -> LoadedStream:
        """The usable snapshot (of ``schema_version`` when given) and every later event, in one call."""
        rows = self._fetchall(LOAD_STREAM_SQL, (stream_id, schema_version), conn)
        return self.codec.loaded_stream(stream_id, rows)

    def read_all(
        self,
        after: int = 0,
        *,
        event_types: Sequence[str] | None = None,
        category: str | None = None,
        page_size: int = 1000,
        conn: psycopg.Connection[Any] | None = None,
    ) -> Iterator[RecordedEvent]:
        """Every event of the global log readable now after the cursor ``after``, in log order.

        ``after`` is the global position of the last event the caller was given (0: the
        start); the iterator reads lazily one page at a time and ends when caught up.
        """
        log_filter = LogFilter(category=category, event_types=event_types)
        with self.connection(conn) as c:
            yield from iter_log(c, after, page_size, log_filter, self.codec.loads)

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
        with self.connection(conn) as c:
            yield from iter_log(c, after, page_size, log_filter, self.codec.loads)

    def load_checkpoint(self, subscription: str, *, conn: psycopg.Connection[Any] | None = None) -> int:
        """The subscription's checkpoint (global position of its last processed event), 0 if none."""
        with self.connection(conn) as c:
            return load_checkpoint(c, subscription)

    def save_checkpoint(
        self,
        subscription: str,
        position: int,
        expected: int | None = None,
        *,
        conn: psycopg.Connection[Any] | None = None,
    ) -> bool:
        """Store a checkpoint, forward only or compare-and-set on ``expected``; False when it lost."""
        with self.connection(conn) as c:
            return save_checkpoint(c, subscription, position, expected)

    def subscription_lag(self, *, conn: psycopg.Connection[Any] | None = None) -> list[SubscriptionLag]:
        """Every checkpoint, how many events it is behind and which backend holds readers back."""
        with self.connection(conn) as c:
            return subscription_lag(c)
