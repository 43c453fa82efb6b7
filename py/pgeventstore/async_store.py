"""A client of the store: one method per SQL function of the ``eventstore`` schema.

The blocking client and the asyncio one have the same methods: the blocking module is
generated from the asyncio module by ``scripts/async_to_sync.py``.

The methods call the database and add nothing it decides: version checks, validation and
idempotency are the SQL functions'. Each method executes one :class:`~pgeventstore.calls.Call`
(:mod:`pgeventstore.calls` holds every statement); failures surface as the exceptions of
:mod:`pgeventstore.errors`.
"""

from __future__ import annotations

import contextlib
import datetime
import time
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from typing import Any, TypeVar

import psycopg
from psycopg.pq import ExecStatus
from psycopg.rows import tuple_row
from psycopg_pool import AsyncConnectionPool

from pgeventstore import _acompat
from pgeventstore.calls import (
    APPEND_EVENT_SQL,
    APPEND_SQL,
    Call,
    StoreCalls,
    cursor_after,
    next_stream,
    next_version,
)
from pgeventstore.codec import JsonCodec, JsonDefault, JsonDumps, JsonLoads
from pgeventstore.errors import translated
from pgeventstore.observability import call_span, log_slow_call
from pgeventstore.values import (
    ANY,
    AppendResult,
    ConsumerGroup,
    ExpectedVersion,
    ForgetResult,
    LoadedStream,
    LogFilter,
    NewEvent,
    RecordedEvent,
    Redaction,
    ReplicaRead,
    ScavengedEvents,
    ScavengeRecord,
    Snapshot,
    StoreStats,
    StreamInfo,
    StreamMetadata,
    SubscriptionLag,
    WalPosition,
)

# The statements and values are re-exported where they lived before the call layer had
# a module of its own (the benchmark imports the append statements from here).
__all__ = [
    "APPEND_EVENT_SQL",
    "APPEND_SQL",
    "AsyncEventStore",
    "Call",
    "ConsumerGroup",
    "JsonCodec",
    "JsonDumps",
    "JsonLoads",
    "LogFilter",
    "ReplicaRead",
    "StoreCalls",
    "SubscriptionLag",
    "WalPosition",
]

T = TypeVar("T")
#: What a store or one of its replicas is opened on: a DSN, a pool, or one connection.
Source = str | AsyncConnectionPool | psycopg.AsyncConnection[Any]


class AsyncEventStore:
    """A client of the store.

    ``source`` is a DSN (the store owns a pool of 1 to 10 autocommit connections, checked
    before each use and opened on first use; close it with :meth:`close` or a ``with``
    block), a pool the application owns, or one connection (used as it is: without
    autocommit, the caller commits). Every method takes an optional ``conn``: the call
    then runs on that connection, inside the caller's transaction if one is open, so
    events and the application's own rows commit or roll back together. ``dumps``,
    ``loads`` and ``default`` configure the :class:`~pgeventstore.codec.JsonCodec`, which
    the repositories and subscriptions built on this store use too.

    ``replicas`` are hot standbys of the primary ``source`` (each a DSN, a pool or a
    connection, as ``source``). Appends, snapshots and checkpoints always go to the
    primary, and so does every read unless it is given ``replica=``: ``True`` reads from
    a replica (round robin) whatever it has replayed; a :class:`WalPosition` from
    :meth:`wal_position` reads from a replica once it has replayed that position, waiting
    up to ``replica_timeout`` seconds, and from the primary after that (or at once when
    the replica is not in recovery). Without replicas every read goes to the primary.
    Subscriptions and projections on a store with replicas read the log from them and
    keep their checkpoints on the primary (:mod:`pgeventstore.subscription`).

    A call that takes ``slow_call`` seconds or longer (waiting for a pooled connection
    included) is logged as a warning on the ``pgeventstore.store`` logger; None turns it
    off. Every call is an OpenTelemetry span when tracing is on
    (:mod:`pgeventstore.observability`).
    """

    def __init__(
        self,
        source: Source,
        *,
        dumps: JsonDumps | None = None,
        loads: JsonLoads | None = None,
        default: JsonDefault | None = None,
        replicas: Sequence[Source] = (),
        replica_timeout: float = 5.0,
        slow_call: float | None = 1.0,
    ) -> None:
        self.slow_call = slow_call
        self.codec = JsonCodec(dumps, loads, default=default)
        self.calls = StoreCalls(self.codec)
        #: The stores of the replicas (each on its own source, with this store's codec).
        self.replicas = tuple(
            AsyncEventStore(replica, dumps=dumps, loads=loads, default=default, slow_call=slow_call)
            for replica in replicas
        )
        self.replica_timeout = replica_timeout
        self._next_replica = 0
        self._pool: AsyncConnectionPool | None = None
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._owns_pool = isinstance(source, str)
        if isinstance(source, str):
            # An asyncio pool must be opened inside the event loop, so not here. The check
            # replaces a connection the server closed (a restart) before a call gets it.
            self._pool = AsyncConnectionPool(
                source,
                kwargs={"autocommit": True},
                open=False,
                min_size=1,
                max_size=10,
                check=AsyncConnectionPool.check_connection,
            )
        elif isinstance(source, AsyncConnectionPool):
            self._pool = source
        else:
            self._conn = source

    @property
    def connection_lost(self) -> bool:
        """Whether the store runs on one connection of the caller's and it is closed or broken.

        Nothing can replace such a connection, so followers on this store raise instead of
        reconnecting; a store on a DSN or a pool replaces a lost connection by itself.
        """
        return self._conn is not None and self._conn.closed

    async def close(self) -> None:
        """Close the pool if the store opened it, and those of its replicas."""
        if self._owns_pool and self._pool is not None:
            await self._pool.close()
        for replica in self.replicas:
            await replica.close()

    async def __aenter__(self) -> AsyncEventStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @contextlib.asynccontextmanager
    async def connection(
        self, conn: psycopg.AsyncConnection[Any] | None = None
    ) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """The connection a call runs on: ``conn``, the store's own, or one from the pool."""
        if conn is not None:
            yield conn
        elif self._conn is not None:
            yield self._conn
        else:
            assert self._pool is not None
            if self._owns_pool:
                await self._pool.open()
            async with self._pool.connection() as pooled:
                yield pooled

    async def run(self, call: Call[T], conn: psycopg.AsyncConnection[Any] | None = None) -> T:
        """Execute ``call`` and parse its rows."""
        started = time.monotonic()
        with call_span(call.query) as traced:
            with translated():
                async with self.connection(conn) as c, c.cursor(row_factory=tuple_row) as cur:
                    await cur.execute(call.query, call.params)
                    # The result's status, not cur.description, which builds a column
                    # object per column on every call.
                    has_rows = cur.pgresult is not None and cur.pgresult.status == ExecStatus.TUPLES_OK
                    rows = await cur.fetchall() if has_rows else []
            if traced is not None:
                traced.set_attribute("db.response.returned_rows", len(rows))
        elapsed = time.monotonic() - started
        if self.slow_call is not None and elapsed >= self.slow_call:
            log_slow_call(call.query, elapsed, self.slow_call)
        return call.parse(rows)

    async def wal_position(self, *, conn: psycopg.AsyncConnection[Any] | None = None) -> WalPosition:
        """The primary's WAL position now, after numbering the readable events of the log.

        A replica that has replayed it holds every event committed before this call, and
        every log number assigned before it: pass it as ``replica=`` to a read to read
        your own writes there.
        """
        await self.number_log(conn=conn)
        return await self.run(self.calls.wal_position(), conn)

    async def reader(self, replica: ReplicaRead = False) -> AsyncEventStore:
        """The store a read given ``replica=`` goes to: one of :attr:`replicas`, or this one.

        False, or a store without replicas: this one (the primary). True: the next replica.
        A :class:`WalPosition`: the next replica once it has replayed it; this one when it
        has not within ``replica_timeout`` seconds, or is not in recovery.
        """
        if not replica or not self.replicas:
            return self
        chosen = self.replicas[self._next_replica % len(self.replicas)]
        self._next_replica += 1
        if not isinstance(replica, WalPosition):
            return chosen
        deadline = time.monotonic() + self.replica_timeout
        pause = 0.002
        while True:
            replayed = await chosen.run(self.calls.replayed(replica))
            if replayed:
                return chosen
            left = deadline - time.monotonic()
            if replayed is None or left <= 0:
                return self
            await _acompat.sleep(min(pause, left))
            pause = min(pause * 2, 0.05)

    async def run_read(
        self, call: Call[T], replica: ReplicaRead = False, conn: psycopg.AsyncConnection[Any] | None = None
    ) -> T:
        """Execute the read ``call`` where :meth:`reader` says; ``conn`` is the primary's connection."""
        target = await self.reader(replica)
        return await target.run(call, conn if target is self else None)

    async def append(
        self,
        stream_id: str,
        events: Iterable[NewEvent],
        expected_version: ExpectedVersion = ANY,
        *,
        conn: psycopg.AsyncConnection[Any] | None = None,
    ) -> AppendResult:
        """Append ``events`` to ``stream_id``, all or nothing, if its version matches.

        Raises :class:`~pgeventstore.errors.WrongExpectedVersion` on a version mismatch.
        """
        return await self.run(self.calls.append(stream_id, events, expected_version), conn)

    async def append_event(
        self,
        stream_id: str,
        event: NewEvent,
        expected_version: ExpectedVersion = ANY,
        *,
        conn: psycopg.AsyncConnection[Any] | None = None,
    ) -> AppendResult:
        """Append one event (``eventstore.append_event``); the same semantics as :meth:`append`."""
        return await self.run(self.calls.append_event(stream_id, event, expected_version), conn)

    async def read_stream(
        self,
        stream_id: str,
        *,
        from_version: int | None = None,
        limit: int = 1000,
        backward: bool = False,
        replica: ReplicaRead = False,
        conn: psycopg.AsyncConnection[Any] | None = None,
    ) -> list[RecordedEvent]:
        """Up to ``limit`` events of a stream, from ``from_version`` (default: first, or last backward)."""
        call = self.calls.read_stream(stream_id, from_version, limit, backward)
        return await self.run_read(call, replica, conn)

    async def iter_stream(
        self,
        stream_id: str,
        *,
        from_version: int | None = None,
        backward: bool = False,
        page_size: int = 1000,
        replica: ReplicaRead = False,
        conn: psycopg.AsyncConnection[Any] | None = None,
    ) -> AsyncIterator[RecordedEvent]:
        """Every event of a stream from ``from_version``, read lazily one page at a time."""
        start: int | None = from_version
        # Every page from one server: another replica may not have replayed as far.
        target = await self.reader(replica)
        on = conn if target is self else None
        while True:
            page = await target.read_stream(
                stream_id, from_version=start, limit=page_size, backward=backward, conn=on
            )
            for event in page:
                yield event
            start = next_version(page, page_size, backward)
            if start is None:
                return

    async def stream_version(
        self,
        stream_id: str,
        *,
        replica: ReplicaRead = False,
        conn: psycopg.AsyncConnection[Any] | None = None,
    ) -> int:
        """The version of the stream's last event, -1 when it has none."""
        return await self.run_read(self.calls.stream_version(stream_id), replica, conn)

    async def save_snapshot(
        self,
        stream_id: str,
        version: int,
        state: Any,
        schema_version: int = 1,
        *,
        conn: psycopg.AsyncConnection[Any] | None = None,
    ) -> bool:
        """Store the stream's snapshot unless one at the same or a newer version is stored."""
        return await self.run(self.calls.save_snapshot(stream_id, version, state, schema_version), conn)

    async def load_snapshot(
        self,
        stream_id: str,
        *,
        replica: ReplicaRead = False,
        conn: psycopg.AsyncConnection[Any] | None = None,
    ) -> Snapshot | None:
        """The stream's snapshot, or None."""
        return await self.run_read(self.calls.load_snapshot(stream_id), replica, conn)

    async def load_stream(
        self,
        stream_id: str,
        schema_version: int | None = None,
        *,
        replica: ReplicaRead = False,
        conn: psycopg.AsyncConnection[Any] | None = None,
    ) -> LoadedStream:
        """The usable snapshot (of ``schema_version`` when given) and every later event, in one call."""
        return await self.run_read(self.calls.load_stream(stream_id, schema_version), replica, conn)

    async def list_streams(
        self,
        *,
        category: str | None = None,
        limit: int = 100,
        after: str | None = None,
        replica: ReplicaRead = False,
        conn: psycopg.AsyncConnection[Any] | None = None,
    ) -> list[StreamInfo]:
        """Up to ``limit`` streams, newest first, of ``category`` if given, after the stream ``after``."""
        return await self.run_read(self.calls.list_streams(category, limit, after), replica, conn)

    async def iter_streams(
        self,
        *,
        category: str | None = None,
        page_size: int = 1000,
        replica: ReplicaRead = False,
        conn: psycopg.AsyncConnection[Any] | None = None,
    ) -> AsyncIterator[StreamInfo]:
        """Every stream (of ``category`` if given), newest first, read lazily one page at a time."""
        after: str | None = None
        target = await self.reader(replica)
        on = conn if target is self else None
        while True:
            page = await target.list_streams(category=category, limit=page_size, after=after, conn=on)
            for info in page:
                yield info
            after = next_stream(page, page_size)
            if after is None:
                return

    async def stats(
        self, *, replica: ReplicaRead = False, conn: psycopg.AsyncConnection[Any] | None = None
    ) -> StoreStats:
        """Counts and sizes: in total, per category and per event type."""
        return await self.run_read(self.calls.stats(), replica, conn)

    async def schema_version(self, *, conn: psycopg.AsyncConnection[Any] | None = None) -> str:
        """The installed schema version: the id of the newest applied migration."""
        return await self.run(self.calls.schema_version(), conn)

    async def read_all(
        self,
        after: int = 0,
        *,
        event_types: Sequence[str] | None = None,
        category: str | None = None,
        page_size: int = 1000,
        replica: ReplicaRead = False,
        conn: psycopg.AsyncConnection[Any] | None = None,
    ) -> AsyncIterator[RecordedEvent]:
        """Every event of the global log readable now after the log number ``after``, in log order.

        ``after`` is the ``log_number`` of the last event the caller was given (0: the
        start; any integer is a valid bound); the iterator reads lazily one page at a
        time and ends when caught up. On a replica it reads the numbers the primary
        assigned: give it a :meth:`wal_position` to read every event readable on the
        primary when the position was taken.
        """
        log_filter = LogFilter(category=category, event_types=event_types)
        async for event in self.read_log(log_filter, after, page_size=page_size, replica=replica, conn=conn):
            yield event

    async def read_category(
        self,
        category: str,
        after: int = 0,
        *,
        group: ConsumerGroup | None = None,
        event_types: Sequence[str] | None = None,
        page_size: int = 1000,
        replica: ReplicaRead = False,
        conn: psycopg.AsyncConnection[Any] | None = None,
    ) -> AsyncIterator[RecordedEvent]:
        """Like :meth:`read_all` for one category; with ``group``, only that member's streams."""
        log_filter = LogFilter(category=category, event_types=event_types, group=group)
        async for event in self.read_log(log_filter, after, page_size=page_size, replica=replica, conn=conn):
            yield event

    async def read_log(
        self,
        log_filter: LogFilter,
        after: int = 0,
        *,
        page_size: int = 1000,
        after_event_id: uuid.UUID | None = None,
        replica: ReplicaRead = False,
        conn: psycopg.AsyncConnection[Any] | None = None,
    ) -> AsyncIterator[RecordedEvent]:
        """Like :meth:`read_all` for the part of the log ``log_filter`` selects.

        Each page after the first names the event it continues from, so a log that
        diverged meanwhile (a failover) raises :class:`~pgeventstore.errors.LogDiverged`
        instead of skipping.
        """
        # Every page from one server: another replica may not have replayed as far.
        target = await self.reader(replica)
        on = conn if target is self else None
        # A short page does not mean caught up (events of open transactions are held
        # back), so only an empty page ends the iteration.
        while page := await target.run(self.calls.read_log(log_filter, after, page_size, after_event_id), on):
            for event in page:
                yield event
            after, after_event_id = cursor_after(page)

    async def number_log(self, *, conn: psycopg.AsyncConnection[Any] | None = None) -> int:
        """Number the events that became readable (``eventstore.number_log``); return how many.

        The log readers do it themselves; call it in its own transaction (autocommit)
        before a long transaction reads the log, so that transaction does not hold the
        numbering for others until it ends.
        """
        return await self.run(self.calls.number_log(), conn)

    async def log_head(
        self, *, replica: ReplicaRead = False, conn: psycopg.AsyncConnection[Any] | None = None
    ) -> int:
        """The newest log number (0: empty log): start after it to read only new events."""
        return await self.run_read(self.calls.log_head(), replica, conn)

    async def load_checkpoint(
        self, subscription: str, *, conn: psycopg.AsyncConnection[Any] | None = None
    ) -> int:
        """The subscription's checkpoint (log number of its last processed event), 0 if none.

        Raises :class:`~pgeventstore.errors.LogDiverged` when the log no longer has that
        event at that number.
        """
        return await self.run(self.calls.load_checkpoint(subscription), conn)

    async def save_checkpoint(
        self,
        subscription: str,
        position: int,
        expected: int | None = None,
        *,
        conn: psycopg.AsyncConnection[Any] | None = None,
    ) -> bool:
        """Store a checkpoint, forward only or compare-and-set on ``expected``; False when it lost.

        ``position`` is the log number of the last event processed (0: none). One above the
        newest log number raises :class:`StreamNotFound`; moving forward from a checkpoint
        whose number no longer names its event raises :class:`LogDiverged` (move it with
        ``expected`` instead).
        """
        return await self.run(self.calls.save_checkpoint(subscription, position, expected), conn)

    async def is_processed(
        self, checkpoint: int, position: int, *, conn: psycopg.AsyncConnection[Any] | None = None
    ) -> bool:
        """Whether a consumer at ``checkpoint`` has processed the event numbered ``position``.

        Log numbers are in log order: this is ``position <= checkpoint``, asked of the database.
        """
        return await self.run(self.calls.is_processed(checkpoint, position), conn)

    async def subscription_lag(
        self, *, conn: psycopg.AsyncConnection[Any] | None = None
    ) -> list[SubscriptionLag]:
        """Every checkpoint, how many events it is behind and which backend holds readers back."""
        return await self.run(self.calls.subscription_lag(), conn)

    async def forget_subject(
        self, subject: str, *, conn: psycopg.AsyncConnection[Any] | None = None
    ) -> ForgetResult:
        """Forget a data subject (admin): destroy its key.

        Its personal fields read as :data:`~pgeventstore.values.REDACTED` from now on,
        everywhere. Appends naming the subject then raise
        :class:`~pgeventstore.errors.SubjectForgotten`; its streams' snapshots are deleted.
        Forgetting again returns the first forgetting's time.
        """
        return await self.run(self.calls.forget_subject(subject), conn)

    async def redact_event(
        self,
        event_id: uuid.UUID,
        reason: str,
        *,
        data: bool = True,
        metadata: bool = False,
        conn: psycopg.AsyncConnection[Any] | None = None,
    ) -> Redaction:
        """Replace one stored event's data and/or metadata with the redaction marker (admin).

        The event keeps its stream, version, id and log number; readers that already read
        it are sent nothing again. The returned record (also stored) says who, when and why.
        """
        return await self.run(self.calls.redact_event(event_id, reason, data, metadata), conn)

    # ---- the stream lifecycle: metadata, delete, tombstone, scavenge ----

    async def get_stream_metadata(
        self, stream_id: str, *, conn: psycopg.AsyncConnection[Any] | None = None
    ) -> StreamMetadata:
        """The stream's metadata, its metadata version (-1: none) and whether it is deleted or tombstoned."""
        return await self.run(self.calls.get_stream_metadata(stream_id), conn)

    async def set_stream_metadata(
        self,
        stream_id: str,
        metadata: Mapping[str, Any],
        expected_version: int | None = None,
        *,
        conn: psycopg.AsyncConnection[Any] | None = None,
    ) -> int:
        """Replace the stream's metadata if its metadata version is ``expected_version``; return the new one.

        ``expected_version``: None any, -1 none stored yet, n the version
        :meth:`get_stream_metadata` returned. The reserved keys ``max_count`` (integer >= 1),
        ``max_age`` (an interval as a string, e.g. ``"30 days"``) and ``truncate_before``
        (integer >= 0) hide older events from every read at once; other keys are the
        application's. Raises :class:`~pgeventstore.errors.WrongExpectedVersion` on a
        mismatch, :class:`~pgeventstore.errors.InvalidArgument` naming an invalid reserved
        key, :class:`~pgeventstore.errors.StreamDeleted` for a tombstoned stream.
        """
        return await self.run(self.calls.set_stream_metadata(stream_id, metadata, expected_version), conn)

    async def delete_stream(
        self,
        stream_id: str,
        expected_version: ExpectedVersion = ANY,
        *,
        conn: psycopg.AsyncConnection[Any] | None = None,
    ) -> int:
        """Soft-delete the stream: it reads as absent until appended to again; return the deletion's version.

        Appending with ``NO_STREAM`` or ``ANY`` starts it again, its versions following the
        deleted ones. The events stay stored until :meth:`scavenge` removes them. Raises
        :class:`~pgeventstore.errors.WrongExpectedVersion`,
        :class:`~pgeventstore.errors.StreamNotFound` (it reads as absent already) or
        :class:`~pgeventstore.errors.StreamDeleted` (tombstoned).
        """
        return await self.run(self.calls.delete_stream(stream_id, expected_version), conn)

    async def tombstone_stream(
        self,
        stream_id: str,
        expected_version: ExpectedVersion = ANY,
        *,
        conn: psycopg.AsyncConnection[Any] | None = None,
    ) -> int:
        """Tombstone the stream for ever: every later append or read raises ``StreamDeleted``.

        Needs ``eventstore_admin``. Returns the tombstone's version; raises
        :class:`~pgeventstore.errors.WrongExpectedVersion` on a mismatch and
        :class:`~pgeventstore.errors.StreamDeleted` when it is tombstoned already.
        """
        return await self.run(self.calls.tombstone_stream(stream_id, expected_version), conn)

    async def scavenge(
        self,
        max_events: int = 10_000,
        *,
        dry_run: bool = False,
        conn: psycopg.AsyncConnection[Any] | None = None,
    ) -> list[ScavengedEvents]:
        """Remove up to ``max_events`` events that metadata, deletions and tombstones made unreadable.

        One bounded batch in one transaction; call it until it returns an empty list.
        ``dry_run`` removes nothing and reports everything there is to remove now. Needs
        ``eventstore_admin`` or ``eventstore_maintenance``.
        """
        return await self.run(self.calls.scavenge(max_events, dry_run), conn)

    async def list_scavenges(
        self,
        *,
        since: datetime.datetime | None = None,
        limit: int = 1000,
        conn: psycopg.AsyncConnection[Any] | None = None,
    ) -> list[ScavengeRecord]:
        """The scavenge audit, newest first: who removed how many events of which stream, when, by what."""
        return await self.run(self.calls.list_scavenges(since, limit), conn)
