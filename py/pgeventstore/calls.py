"""Every statement the Python layer sends, each defined once, as a :class:`Call`.

A :class:`Call` is a statement of the SQL API, its parameters and how its rows become the
result. :class:`StoreCalls` builds them; the stores (:mod:`pgeventstore.store`,
:mod:`pgeventstore.async_store`), the repositories and the subscriptions only execute
them, each on its own kind of connection. No other module writes SQL.
"""

from __future__ import annotations

import dataclasses
import datetime
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Generic, TypeVar

from pgeventstore.codec import JsonCodec
from pgeventstore.values import (
    AppendResult,
    ExpectedVersion,
    ForgetResult,
    LoadedStream,
    LogFilter,
    NewEvent,
    RecordedEvent,
    Redaction,
    ScavengedEvents,
    ScavengeRecord,
    Snapshot,
    StatsEntry,
    StoreStats,
    StreamInfo,
    StreamMetadata,
    SubscriptionLag,
    WalPosition,
)

__all__ = [
    "APPEND_EVENT_SQL",
    "APPEND_SQL",
    "NOTIFY_CHANNEL",
    "Call",
    "StoreCalls",
    "cursor_after",
    "next_stream",
    "next_version",
]

T = TypeVar("T")
Rows = list[tuple[Any, ...]]

#: The channel ``eventstore.append_to_stream`` notifies when ``eventstore.notify = 'on'``.
NOTIFY_CHANNEL = "eventstore"

APPEND_SQL = (
    "select stream_version, first_position, last_position "
    "from eventstore.append_to_stream(%s::text, %s::bigint, %s::jsonb)"
)
#: The append of ``Repository.execute``: it also returns the transaction's start time, the
#: events' ``recorded_at`` (the column defaults to ``now()``), which reducers see before
#: the events are read back.
APPEND_RECORDED_AT_SQL = (
    "select stream_version, first_position, last_position, now() "
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
FORGET_SUBJECT_SQL = (
    "select subject, forgotten_at, events, snapshots_deleted from eventstore.forget_subject(%s::text)"
)
REDACT_EVENT_SQL = (
    "select redaction_id, event_id, redacted_data, redacted_metadata, reason, redacted_at, redacted_by "
    "from eventstore.redact_event(%s::uuid, %s::text, %s::boolean, %s::boolean)"
)
# The stream lifecycle (issue 18).
GET_STREAM_METADATA_SQL = (
    "select metadata::text, metadata_version, deleted, tombstoned, scavenged_before "
    "from eventstore.get_stream_metadata(%s::text)"
)
SET_STREAM_METADATA_SQL = "select eventstore.set_stream_metadata(%s::text, %s::jsonb, %s::bigint)"
DELETE_STREAM_SQL = "select eventstore.delete_stream(%s::text, %s::bigint)"
TOMBSTONE_STREAM_SQL = "select eventstore.tombstone_stream(%s::text, %s::bigint)"
SCAVENGE_SQL = (
    "select stream_id, rule, events_removed, first_version, last_version "
    "from eventstore.scavenge(%s::integer, %s::boolean)"
)
LIST_SCAVENGES_SQL = (
    "select scavenge_id, scavenged_at, scavenged_by, stream_id, rule, events_removed, first_version, "
    "last_version from eventstore.list_scavenges(%s::timestamptz, %s::integer)"
)
LISTEN_SQL = f"listen {NOTIFY_CHANNEL}"
UNLISTEN_SQL = f"unlisten {NOTIFY_CHANNEL}"
#: The sharded store (:mod:`pgeventstore.shard`): a shard's range of global positions, and
#: the router's shards and partitions.
MAKE_SHARD_SQL = "select eventstore.make_shard(%s::integer)"
CONFIGURE_ROUTER_SQL = "select eventstore_router.configure(%s::text[], %s::integer)"
#: The shards' logs as one, on the router: the shard first, then the event in the order
#: :meth:`JsonCodec.recorded_event` reads it, the log number last.
READ_SHARDS_SQL = (
    f"select shard, {LOG_EVENT_COLUMNS} from eventstore.read_shards("
    "%s::bigint[], %s::integer, %s::text[], %s::text, %s::uuid[])"
)
#: Instances of one projection take turns, batch by batch (see ``Projection``). An
#: advisory lock, unlike a row lock, takes no transaction id, which would hold back the
#: batch's own read of the log.
TAKE_TURN_SQL = "select pg_advisory_xact_lock(hashtextextended('pgeventstore.projection:' || %s, 0))"
#: The primary's WAL insert position: past the commit record of every transaction that
#: committed before, whether or not its commit was flushed yet (synchronous_commit off).
#: Where the last record ends exactly at a page boundary, the insert position is given
#: after the next page's header (24 bytes, 40 at a segment's start), which a standby's
#: replay position reaches only with the next record: the header is taken off.
WAL_POSITION_SQL = (
    "select case"
    " when mod(l - '0/0'::pg_lsn, pg_size_bytes(current_setting('wal_segment_size'))) = 40 then l - 40"
    " when mod(l - '0/0'::pg_lsn, current_setting('wal_block_size')::numeric) = 24 then l - 24"
    " else l end::text"
    " from pg_current_wal_insert_lsn() as l"
)
#: On a streaming standby, whether it has replayed a position of its primary; NULL on a
#: server that is not in recovery (a promoted standby, a logical subscriber), whose WAL
#: positions are not the primary's.
REPLAYED_SQL = "select case when pg_is_in_recovery() then pg_last_wal_replay_lsn() >= %s::pg_lsn end"


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


def _nothing(rows: Rows) -> None:
    return None


class StoreCalls:
    """Builds the :class:`Call` behind every store method; shared by the sync and async code."""

    def __init__(self, codec: JsonCodec) -> None:
        self.codec = codec

    def append(
        self, stream_id: str, events: Iterable[NewEvent], expected_version: ExpectedVersion
    ) -> Call[AppendResult]:
        """``eventstore.append_to_stream``."""
        params = (stream_id, expected_version, self.codec.events_payload(events))
        return Call(APPEND_SQL, params, lambda rows: AppendResult(*rows[0]))

    def append_recorded_at(
        self, stream_id: str, events: Iterable[NewEvent], expected_version: ExpectedVersion
    ) -> Call[tuple[AppendResult, datetime.datetime]]:
        """``eventstore.append_to_stream``, returning the events' ``recorded_at`` too."""
        params = (stream_id, expected_version, self.codec.events_payload(events))
        return Call(APPEND_RECORDED_AT_SQL, params, lambda rows: (AppendResult(*rows[0][:3]), rows[0][3]))

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
        """``eventstore.read_all``, or ``eventstore.read_category`` for a consumer group.

        ``after_event_id``, the id of the event numbered ``after``, makes the database
        check that the log still has it there (ES419 otherwise).
        """
        types = list(log_filter.event_types) if log_filter.event_types is not None else None
        query: str
        params: tuple[Any, ...]
        if log_filter.group is not None:
            query = READ_CATEGORY_SQL
            group = log_filter.group
            params = (log_filter.category, after, limit, group.member, group.size, types, after_event_id)
        else:
            query = READ_ALL_SQL
            params = (after, limit, types, log_filter.category, after_event_id)
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

    def forget_subject(self, subject: str) -> Call[ForgetResult]:
        """``eventstore.forget_subject``: destroy the subject's key."""
        return Call(FORGET_SUBJECT_SQL, (subject,), lambda rows: ForgetResult(*rows[0]))

    def redact_event(self, event_id: uuid.UUID, reason: str, data: bool, metadata: bool) -> Call[Redaction]:
        """``eventstore.redact_event``: replace one event's data and/or metadata with the marker."""
        params = (event_id, reason, data, metadata)
        return Call(REDACT_EVENT_SQL, params, lambda rows: Redaction(*rows[0]))

    def get_stream_metadata(self, stream_id: str) -> Call[StreamMetadata]:
        """``eventstore.get_stream_metadata``."""

        def parse(rows: Rows) -> StreamMetadata:
            metadata, version, deleted, tombstoned, scavenged_before = rows[0]
            return StreamMetadata(
                stream_id, self.codec.loads(metadata), version, deleted, tombstoned, scavenged_before
            )

        return Call(GET_STREAM_METADATA_SQL, (stream_id,), parse)

    def set_stream_metadata(
        self, stream_id: str, metadata: Mapping[str, Any], expected_version: int | None
    ) -> Call[int]:
        """``eventstore.set_stream_metadata``."""
        params = (stream_id, self.codec.dumps(metadata), expected_version)
        return Call(SET_STREAM_METADATA_SQL, params, lambda rows: int(rows[0][0]))

    def delete_stream(self, stream_id: str, expected_version: ExpectedVersion) -> Call[int]:
        """``eventstore.delete_stream``."""
        return Call(DELETE_STREAM_SQL, (stream_id, expected_version), lambda rows: int(rows[0][0]))

    def tombstone_stream(self, stream_id: str, expected_version: ExpectedVersion) -> Call[int]:
        """``eventstore.tombstone_stream``."""
        return Call(TOMBSTONE_STREAM_SQL, (stream_id, expected_version), lambda rows: int(rows[0][0]))

    def scavenge(self, max_events: int, dry_run: bool) -> Call[list[ScavengedEvents]]:
        """``eventstore.scavenge``."""
        return Call(SCAVENGE_SQL, (max_events, dry_run), lambda rows: [ScavengedEvents(*row) for row in rows])

    def list_scavenges(self, since: datetime.datetime | None, limit: int) -> Call[list[ScavengeRecord]]:
        """``eventstore.list_scavenges``."""
        return Call(LIST_SCAVENGES_SQL, (since, limit), lambda rows: [ScavengeRecord(*row) for row in rows])

    def listen(self) -> Call[None]:
        """``LISTEN`` on the channel appends notify."""
        return Call(LISTEN_SQL, (), _nothing)

    def unlisten(self) -> Call[None]:
        """``UNLISTEN``: stop collecting the notifications of appends."""
        return Call(UNLISTEN_SQL, (), _nothing)

    def wal_position(self) -> Call[WalPosition]:
        """The primary's WAL position now (``pg_current_wal_insert_lsn``)."""
        return Call(WAL_POSITION_SQL, (), lambda rows: WalPosition(str(rows[0][0])))

    def replayed(self, position: WalPosition) -> Call[bool | None]:
        """Whether this standby has replayed ``position``; None when it is not a standby."""
        return Call(REPLAYED_SQL, (position.lsn,), lambda rows: rows[0][0])

    def take_turn(self, projection: str) -> Call[None]:
        """Wait for the other instances of ``projection`` to end their batch's transaction."""
        return Call(TAKE_TURN_SQL, (projection,), _nothing)


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


# The persistence module of Python's eventsourcing library (pgeventstore.eventsourcing):
# its statements, executed by its recorders on connections of their pool.
#: Appends each originator's events (their originator versions in metadata), all in one
#: statement, so in one transaction without a BEGIN and a COMMIT of their own; one row each.
ES_APPEND_SQL = (
    "select (eventstore.append_versioned(b.stream_id, b.events)).stream_version "
    "from unnest(%s::text[], %s::jsonb[]) with ordinality as b(stream_id, events, n) order by b.n"
)
#: A stored event's state (its text, or else its bytes in base64) and originator version,
#: taken apart in SQL, so that no JSON is parsed in Python.
ES_STATE_COLUMNS = (
    "case when jsonb_typeof(data) = 'string' then data #>> '{}' end, data ->> 'base64', "
    "(metadata ->> 'originator_version')::bigint"
)
#: An originator's events in a range of originator versions: (gt, lte, backward, max_count).
ES_SELECT_EVENTS_SQL = (
    f"select stream_id, event_type, {ES_STATE_COLUMNS} "
    "from eventstore.read_versioned(%s::text, %s::bigint, %s::bigint, %s::boolean, %s::integer)"
)
#: The log numbers of version ranges of several streams, once committed: one row per range.
#: The statement is its own transaction (autocommit) and writes only log numbers, so its
#: commit need not wait for the WAL flush (synchronous_commit off for this transaction
#: alone): numbers lost in a crash before the flush are assigned again, the same ones,
#: since numbering follows the gap-safe order of events that are themselves durable, and
#: any later durable commit (an append, a checkpoint) flushes them first.
ES_LOG_NUMBERS_SQL = (
    "select eventstore.stream_log_numbers(r.stream_id, r.from_version, r.to_version) "
    "from (select set_config('synchronous_commit', 'off', true)) as s(previous), "
    "unnest(%s::text[], %s::bigint[], %s::bigint[]) with ordinality "
    "as r(stream_id, from_version, to_version, n) order by r.n"
)
#: An application's notifications: its category's events after a log number.
ES_SELECT_NOTIFICATIONS_SQL = (
    f"select log_number, stream_id, event_type, {ES_STATE_COLUMNS} "
    "from eventstore.read_all(%s::bigint, %s::integer, %s::text[], %s::text)"
)
ES_MAX_NOTIFICATION_ID_SQL = "select eventstore.category_head(%s::text)"
ES_RECORD_TRACKING_SQL = "select eventstore.record_tracking(%s::text, %s::text, %s::bigint)"
ES_MAX_TRACKING_ID_SQL = "select eventstore.max_tracking_id(%s::text, %s::text)"
