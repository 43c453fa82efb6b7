"""pgeventstore: a PostgreSQL event store whose guarantees live in the database."""

from __future__ import annotations

__version__ = "0.1.0"

from pgeventstore.aggregate import Repository
from pgeventstore.async_aggregate import AsyncRepository
from pgeventstore.async_store import AsyncEventStore
from pgeventstore.async_subscription import AsyncProjection, AsyncSubscription
from pgeventstore.codec import JsonCodec, json_default
from pgeventstore.errors import (
    CheckpointLost,
    DuplicateEventId,
    EventsImmutable,
    EventStoreError,
    InvalidArgument,
    LogDiverged,
    NotOnRouter,
    ReadOnlyStore,
    StreamDeleted,
    StreamNotFound,
    WrongExpectedVersion,
)
from pgeventstore.events import EventRegistry
from pgeventstore.model import (
    Aggregate,
    AggregateType,
    CommandContext,
    DomainError,
    Event,
    Handler,
    RetryPolicy,
    event_id,
)
from pgeventstore.recovery import ReconnectPolicy
from pgeventstore.store import EventStore
from pgeventstore.subscription import Projection, Subscription, follow
from pgeventstore.values import (
    ANY,
    NO_STREAM,
    STREAM_EXISTS,
    AppendResult,
    ConsumerGroup,
    ExpectedVersion,
    LoadedStream,
    LogFilter,
    NewEvent,
    RecordedEvent,
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
    "ANY",
    "NO_STREAM",
    "STREAM_EXISTS",
    "Aggregate",
    "AggregateType",
    "AppendResult",
    "AsyncEventStore",
    "AsyncProjection",
    "AsyncRepository",
    "AsyncSubscription",
    "CheckpointLost",
    "CommandContext",
    "ConsumerGroup",
    "DomainError",
    "DuplicateEventId",
    "Event",
    "EventRegistry",
    "EventStore",
    "EventStoreError",
    "EventsImmutable",
    "ExpectedVersion",
    "Handler",
    "InvalidArgument",
    "JsonCodec",
    "LoadedStream",
    "LogDiverged",
    "LogFilter",
    "NewEvent",
    "NotOnRouter",
    "Projection",
    "ReadOnlyStore",
    "ReconnectPolicy",
    "RecordedEvent",
    "Repository",
    "RetryPolicy",
    "ScavengeRecord",
    "ScavengedEvents",
    "Snapshot",
    "StatsEntry",
    "StoreStats",
    "StreamDeleted",
    "StreamInfo",
    "StreamMetadata",
    "StreamNotFound",
    "Subscription",
    "SubscriptionLag",
    "WalPosition",
    "WrongExpectedVersion",
    "event_id",
    "follow",
    "json_default",
]
