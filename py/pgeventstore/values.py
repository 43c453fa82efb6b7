"""Immutable values exchanged with the store, and the expected-version spellings."""

from __future__ import annotations

import dataclasses
import datetime
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Final

#: Append whatever the stream's version (SQL NULL).
ANY: Final = None
#: Append only if the stream has no events (SQL -1).
NO_STREAM: Final = -1
#: Append only if the stream has at least one event (SQL -2).
STREAM_EXISTS: Final = -2

#: ``ANY``, ``NO_STREAM``, ``STREAM_EXISTS`` or the exact version of the stream's last event.
ExpectedVersion = int | None


@dataclasses.dataclass(frozen=True)
class NewEvent:
    """An event to append. ``id`` makes a retry idempotent; the database generates one if absent."""

    type: str
    data: Any
    metadata: Mapping[str, Any] | None = None
    id: uuid.UUID | None = None


@dataclasses.dataclass(frozen=True)
class RecordedEvent:
    """An event as stored: its stream, 0-based version, global position and payload.

    ``log_number`` is its number in the global log, given by the log readers
    (``read_all``, ``read_category``, subscriptions) and None from stream reads; the
    cursor to continue a log read from. ``global_position`` orders the events of one
    transaction and is not a cursor.
    """

    stream_id: str
    version: int
    global_position: int
    id: uuid.UUID
    type: str
    data: Any
    metadata: Mapping[str, Any] | None
    recorded_at: datetime.datetime
    log_number: int | None = None


@dataclasses.dataclass(frozen=True)
class AppendResult:
    """The stream's version after an append and the global positions of its first and last event."""

    stream_version: int
    first_position: int
    last_position: int


@dataclasses.dataclass(frozen=True)
class Snapshot:
    """A stream's stored snapshot: its state as of ``version``, in ``schema_version``'s shape."""

    stream_id: str
    version: int
    state: Any
    schema_version: int
    recorded_at: datetime.datetime


@dataclasses.dataclass(frozen=True)
class LoadedStream:
    """What :meth:`EventStore.load_stream` returns: the usable snapshot and every later event.

    ``version`` is the stream's version (-1 for a stream with no events).
    """

    stream_id: str
    snapshot: Snapshot | None
    events: list[RecordedEvent]

    @property
    def version(self) -> int:
        """The stream's version: its last event's, else the snapshot's, else -1."""
        if self.events:
            return self.events[-1].version
        return self.snapshot.version if self.snapshot else -1


@dataclasses.dataclass(frozen=True)
class StreamInfo:
    """A stream as listed by ``list_streams``: its version, first and latest append times."""

    stream_id: str
    version: int
    created_at: datetime.datetime
    updated_at: datetime.datetime


@dataclasses.dataclass(frozen=True)
class StatsEntry:
    """Counts and payload size of one category or event type (``snapshots`` None for types)."""

    name: str
    streams: int
    events: int
    snapshots: int | None
    payload_bytes: int


@dataclasses.dataclass(frozen=True)
class StoreStats:
    """What the store holds: totals, then per category and per type, most events first.

    ``payload_bytes`` is the stored size of event data and metadata; ``disk_bytes`` the
    on-disk size of the store's tables with their indexes.
    """

    streams: int
    events: int
    snapshots: int
    payload_bytes: int
    disk_bytes: int
    categories: tuple[StatsEntry, ...]
    types: tuple[StatsEntry, ...]


@dataclasses.dataclass(frozen=True)
class ConsumerGroup:
    """Member ``member`` (0-based) of a group of ``size`` sharing one category by stream."""

    member: int
    size: int


@dataclasses.dataclass(frozen=True)
class LogFilter:
    """Which part of the global log a reader follows: all of it, a category, some types.

    With ``group``, only the streams of ``category`` that belong to that member.
    """

    category: str | None = None
    event_types: Sequence[str] | None = None
    group: ConsumerGroup | None = None

    def __post_init__(self) -> None:
        # A lone string is a Sequence[str] too, and would filter on its characters.
        if isinstance(self.event_types, str):
            raise TypeError(f"event_types must be a sequence of names, not the string {self.event_types!r}")
        if self.group is not None and self.category is None:
            raise ValueError("a consumer group shares a category: give category too")


@dataclasses.dataclass(frozen=True)
class SubscriptionLag:
    """One row of ``eventstore.subscription_lag()``."""

    subscription: str
    position: int
    events_behind: int
    events_held_back: int
    held_back_by_pid: int | None
    held_back_since: datetime.datetime | None
    updated_at: datetime.datetime


@dataclasses.dataclass(frozen=True)
class WalPosition:
    """A place in the primary's write-ahead log, from :meth:`EventStore.wal_position`.

    A streaming standby that has replayed ``lsn`` (``pg_last_wal_replay_lsn() >= lsn``)
    shows everything that was committed on the primary before it was taken. Pass it as
    ``replica=`` to a read to read your own writes on a replica.
    """

    lsn: str


#: Where a read that tolerates replica lag goes: False, the primary; True, a replica
#: whatever it has replayed; a :class:`WalPosition`, a replica once it has replayed it.
ReplicaRead = bool | WalPosition


@dataclasses.dataclass(frozen=True)
class StreamMetadata:
    """A stream's metadata and lifecycle state (``eventstore.get_stream_metadata``)."""

    stream_id: str
    #: The object last stored; reserved keys ``max_count``, ``max_age``, ``truncate_before``.
    metadata: Mapping[str, Any]
    #: -1 when none was stored: the expected metadata version of the first set.
    metadata_version: int
    #: Deleted (soft delete) and not appended to since: the stream reads as absent.
    deleted: bool
    #: Tombstoned: it can never be written or read again.
    tombstoned: bool
    #: Versions below it may have been removed by scavenging.
    scavenged_before: int


@dataclasses.dataclass(frozen=True)
class ScavengedEvents:
    """Events of one stream that one scavenge batch removed (or, dry, would remove) by one rule."""

    stream_id: str
    #: ``tombstone``, ``delete``, ``truncate_before``, ``max_count`` or ``max_age``.
    rule: str
    events_removed: int
    first_version: int
    last_version: int


@dataclasses.dataclass(frozen=True)
class ScavengeRecord:
    """One row of the scavenge audit (``eventstore.list_scavenges``)."""

    scavenge_id: int
    scavenged_at: datetime.datetime
    #: The login role that ran the scavenge.
    scavenged_by: str
    stream_id: str
    rule: str
    events_removed: int
    first_version: int
    last_version: int
