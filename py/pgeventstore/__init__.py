"""pgeventstore: a PostgreSQL event store whose guarantees live in the database."""

from __future__ import annotations

__version__ = "0.1.0"

from pgeventstore.aggregate import (
    Aggregate,
    AggregateType,
    AsyncRepository,
    CommandContext,
    DomainError,
    Event,
    Handler,
    Repository,
    RetryPolicy,
)
from pgeventstore.async_store import AsyncEventStore
from pgeventstore.codec import JsonCodec, json_default
from pgeventstore.errors import (
    DuplicateEventId,
    EventsImmutable,
    EventStoreError,
    InvalidArgument,
    LogDiverged,
    StreamNotFound,
    WrongExpectedVersion,
)
from pgeventstore.store import EventStore
from pgeventstore.subscription import (
    AsyncSubscription,
    CheckpointLost,
    ConsumerGroup,
    LogFilter,
    Projection,
    Subscription,
    SubscriptionLag,
    follow,
)
from pgeventstore.values import (
    ANY,
    NO_STREAM,
    STREAM_EXISTS,
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
    "ANY",
    "NO_STREAM",
    "STREAM_EXISTS",
    "Aggregate",
    "AggregateType",
    "AppendResult",
    "AsyncEventStore",
    "AsyncRepository",
    "AsyncSubscription",
    "CheckpointLost",
    "CommandContext",
    "ConsumerGroup",
    "DomainError",
    "DuplicateEventId",
    "Event",
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
    "Projection",
    "RecordedEvent",
    "Repository",
    "RetryPolicy",
    "Snapshot",
    "StatsEntry",
    "StoreStats",
    "StreamInfo",
    "StreamNotFound",
    "Subscription",
    "SubscriptionLag",
    "WrongExpectedVersion",
    "follow",
    "json_default",
]
