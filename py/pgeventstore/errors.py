"""Exceptions of pgeventstore, and the one place that maps SQLSTATEs to them.

The database decides every rule; a failed call raises a psycopg error whose SQLSTATE
(``ES400``, ``ES404``, ``ES409``, ``ES410``, ``ES412``, ``ES419``, ``ES423``, ``ES501``,
and PostgreSQL's ``25006``) :func:`translate` turns into the matching exception below. A
value the call's SQL types cannot hold at all (PostgreSQL's data exceptions, SQLSTATE
class 22, raised while it converts the arguments) is an :class:`InvalidArgument` too.
Connection and server errors stay psycopg's own.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

import psycopg


class EventStoreError(Exception):
    """Base of every error the event store reports; ``sqlstate`` is the database's code."""

    sqlstate: str = ""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class InvalidArgument(EventStoreError):
    r"""ES400: an argument is malformed or out of range; nothing was written.

    Also raised, with PostgreSQL's own code as ``sqlstate``, for a value that its SQL type
    cannot hold, refused as the call's arguments are converted (SQLSTATE class 22: an
    integer beyond a ``bigint`` version or an ``integer`` count, an event id that is no
    uuid, JSON that ``jsonb`` cannot store such as ``1e1000000`` or ``\u0000``), and, with
    ``sqlstate`` empty, for text that psycopg cannot send (a NUL character).
    """

    sqlstate = "ES400"

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        event_index: int | None = None,
        problem: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        #: For a refused event of a batch: its 0-based index in the batch, and what is
        #: wrong with it (the message without the index); None otherwise.
        self.event_index = event_index
        self.problem = problem


class StreamNotFound(EventStoreError):
    """ES404: what the call names does not exist.

    A stream where one with events is required (e.g. saving a snapshot), or a checkpoint
    above the newest log number (no event has that number yet); the message says which.
    """

    sqlstate = "ES404"


class WrongExpectedVersion(EventStoreError):
    """ES409: the stream's version did not match; ``actual`` says where it is now.

    ``actual`` is None when the conflicting append committed after the snapshot of a
    REPEATABLE READ or SERIALIZABLE transaction, which cannot see the new version, and for
    ``save_snapshot`` in such a transaction when a concurrent save of the stream's snapshot
    committed first: retry in a new transaction.
    """

    sqlstate = "ES409"

    def __init__(
        self,
        message: str,
        *,
        stream_id: str,
        expected: int | None,
        actual: int | None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.stream_id = stream_id
        self.expected = expected
        self.actual = actual


class DuplicateEventId(EventStoreError):
    """ES412: an event id is already stored for a different event."""

    sqlstate = "ES412"

    def __init__(self, message: str, *, event_id: str, stream_id: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.event_id = event_id
        self.stream_id = stream_id


class EventsImmutable(EventStoreError):
    """ES423: stored events cannot be updated, deleted or truncated."""

    sqlstate = "ES423"


class LogDiverged(EventStoreError):
    """ES419: a cursor or checkpoint names an event the log no longer has at that number.

    The store lost or replaced events after it (a failover to a standby that had not
    received the last commits, a restore of an older backup): resuming would skip or
    repeat events. Rebuild the reader's state, or move its checkpoint explicitly.
    """

    sqlstate = "ES419"


class StreamDeleted(EventStoreError):
    """ES410: the stream is tombstoned; it can never be written or read again.

    Raised by every append to it, by its reads (``read_stream``, ``load_stream``,
    ``stream_version``, ``load_snapshot``) and by changing its metadata or deleting it;
    :meth:`EventStore.get_stream_metadata` shows ``tombstoned``. Use another stream id.
    A stream that was only deleted (soft delete) reads as absent instead.
    """

    sqlstate = "ES410"


class NotOnRouter(EventStoreError):
    """ES501: the router of a sharded store does not answer this call; call it on each shard.

    The global log, its numbers and cursors, checkpoints and subscriptions are per shard
    (every shard is a complete store); the router reads the merged log with
    ``eventstore.read_shards``. Also raised for a write to the router's own tables.
    """

    sqlstate = "ES501"


class CheckpointLost(Exception):
    """Another instance of a projection saved its checkpoint first; this one's batch rolled back.

    Raised by ``Projection.apply_batch`` and ``rebuild``; a running projection applies
    the batch again from the new checkpoint.
    """


# The hint of an InvalidArgument for a value its SQL type cannot hold.
_TYPE_HINT = (
    "Pass versions and positions within bigint, counts within integer, event ids as uuids, "
    "and JSON that jsonb can store (no \\u0000, no numbers beyond its range)."
)


class ReadOnlyStore(EventStoreError):
    """25006: this database does not take writes to the store.

    A logical subscriber of the event log (append on the publisher; at the cutover,
    disable or drop the subscription), a hot standby, or a read-only transaction; the
    hint says which. Nothing was written.
    """

    sqlstate = "25006"


#: PostgreSQL's own 25006 (a hot standby, a read-only transaction) carries no hint.
_READ_ONLY_HINT = "Write on the primary, outside a read-only transaction."


def translate(error: psycopg.Error) -> Exception:
    """The pgeventstore exception for ``error``, or ``error`` itself if it is not ours."""
    diag = error.diag
    state = diag.sqlstate
    message = diag.message_primary or str(error)
    hint = diag.message_hint
    if isinstance(error, psycopg.DataError):
        # Class 22, or psycopg's refusal to send a value (text with NUL): the value cannot
        # even become the call's argument, so none of the store's rules could judge it.
        why = f" ({diag.message_detail})" if diag.message_detail else ""
        invalid = InvalidArgument(f"{message}{why}", hint=hint or _TYPE_HINT)
        invalid.sqlstate = state or ""
        return invalid
    if state == "ES409":
        detail: dict[str, Any] = json.loads(diag.message_detail or "{}")
        return WrongExpectedVersion(
            message,
            stream_id=detail["stream_id"],
            expected=detail["expected_version"],
            actual=detail["actual_version"],
            hint=hint,
        )
    if state == "ES412":
        detail = json.loads(diag.message_detail or "{}")
        return DuplicateEventId(
            message, event_id=detail["event_id"], stream_id=detail["stream_id"], hint=hint
        )
    if state == "ES404":
        return StreamNotFound(message, hint=hint)
    if state == "ES400":
        # Only a refused event of a batch carries a DETAIL (JSON); other ES400s have none.
        detail = json.loads(diag.message_detail or "{}")
        return InvalidArgument(
            message, hint=hint, event_index=detail.get("event_index"), problem=detail.get("problem")
        )
    if state == "ES423":
        return EventsImmutable(message, hint=hint)
    if state == "ES419":
        return LogDiverged(message, hint=hint)
    if state == "ES410":
        return StreamDeleted(message, hint=hint)
    if state == "ES501":
        return NotOnRouter(message, hint=hint)
    if state == "25006":
        return ReadOnlyStore(message, hint=hint or _READ_ONLY_HINT)
    return error


@contextlib.contextmanager
def translated() -> Iterator[None]:
    """Re-raise a psycopg error of the store as its pgeventstore exception."""
    try:
        yield
    except psycopg.Error as error:
        mapped = translate(error)
        if mapped is error:
            raise
        raise mapped from error
