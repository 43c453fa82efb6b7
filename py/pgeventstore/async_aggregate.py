"""Repositories: load aggregates and execute commands on them, over a store.

A repository loads a stream with one call of ``eventstore.load_stream`` (snapshot plus
later events) and executes commands with a command handler: load, decide, append with the loaded
version as the expected version, fold the new events into the state, commit. A reducer
that raises rolls the append back, so a command either fails with nothing stored or
succeeds with its events stored. The blocking repository is generated from the asyncio
one by ``scripts/async_to_sync.py``; the model without I/O is :mod:`pgeventstore.model`.

Retries (bounded by a :class:`~pgeventstore.model.RetryPolicy`):

* a concurrent append (:class:`~pgeventstore.errors.WrongExpectedVersion`): load, decide
  and append again;
* a connection that fails during the append or its commit (``psycopg.OperationalError``:
  a server restart, a killed backend): whether the commit happened is unknown, so the
  very same append (same event ids, same expected version) is sent again on a fresh
  connection. The store returns the original result when the first one did commit
  (its idempotent retry) and stores the events when it did not; either way the command
  takes effect once. The event ids come from the command id (:func:`~pgeventstore.model.event_id`).
"""

from __future__ import annotations

import logging
import uuid
from typing import Any, Generic, TypeVar

import psycopg

from pgeventstore import _acompat
from pgeventstore.async_store import AsyncEventStore
from pgeventstore.errors import WrongExpectedVersion
from pgeventstore.model import (
    Aggregate,
    AggregateType,
    CommandContext,
    DomainError,
    Event,
    EventRegistry,
    Handler,
    RetryPolicy,
)
from pgeventstore.observability import span
from pgeventstore.values import NewEvent

__all__ = [
    "Aggregate",
    "AggregateType",
    "AsyncRepository",
    "CommandContext",
    "DomainError",
    "Event",
    "EventRegistry",
    "Handler",
    "RetryPolicy",
]

# One logger for both flavours (see pgeventstore.observability).
logger = logging.getLogger("pgeventstore.aggregate")

S = TypeVar("S")


class AsyncRepository(Generic[S]):
    """Loads and changes aggregates of one :class:`~pgeventstore.model.AggregateType` in a store.

    ``snapshot_every`` overrides the aggregate type's interval; ``retry`` bounds the
    retries of :meth:`execute`. The store's JSON codec stores events and snapshots.
    """

    def __init__(
        self,
        store: AsyncEventStore,
        aggregate_type: AggregateType[S],
        *,
        retry: RetryPolicy | None = None,
        snapshot_every: int | None = None,
    ) -> None:
        self.store = store
        self.aggregate_type = aggregate_type
        self.retry = retry or RetryPolicy()
        self.snapshot_every = snapshot_every if snapshot_every is not None else aggregate_type.snapshot_every

    async def load(self, stream_id: str, *, conn: psycopg.AsyncConnection[Any] | None = None) -> Aggregate[S]:
        """The aggregate's current state, from its snapshot and later events, in one round trip."""
        loaded = await self.store.load_stream(stream_id, self.aggregate_type.state_version, conn=conn)
        return self.aggregate_type.restore(loaded)

    async def execute(
        self,
        stream_id: str,
        handler: str | Handler,
        *args: Any,
        command_id: uuid.UUID | None = None,
        context: CommandContext | None = None,
        conn: psycopg.AsyncConnection[Any] | None = None,
    ) -> Aggregate[S]:
        """Run ``handler(state, *args)``, append its events and return the aggregate afterwards.

        ``handler`` is one of the aggregate type's registered handlers, or its name. Its
        events are ``NewEvent`` objects or instances of classes registered in the aggregate
        type's registry; the ``index``-th gets the id ``event_id(command_id, index)``
        unless it has one (``command_id``: a new random one when absent).

        With ``conn``, everything runs on that connection and inside its transaction if one
        is open: the events and the snapshot commit or roll back with the caller's own
        writes (each attempt's append runs in a savepoint, so a conflict leaves the
        transaction usable for the retry; a lost connection is not retried, the caller's
        transaction being lost with it).

        A command id that already executed on this stream (its events are stored, wherever
        the stream has got to since) appends nothing and returns the aggregate as it is:
        sending a request again with its command id is safe. A handler must therefore
        decide the same first event for the same command id, which it does when the
        command id names one request.

        Raises ValueError for an unregistered handler, the handler's
        :class:`~pgeventstore.model.DomainError` and whatever a reducer raises (nothing
        stored either way), :class:`~pgeventstore.errors.WrongExpectedVersion` when every
        attempt met a concurrent append, and ``psycopg.OperationalError`` when every
        attempt lost its connection.
        """
        # Resolved before any I/O, so an unknown handler fails with nothing done.
        function = self.aggregate_type.command_handler(handler)
        command = command_id or uuid.uuid4()
        attributes = {
            "pgeventstore.stream_id": stream_id,
            "pgeventstore.command": getattr(function, "__name__", str(handler)),
            "pgeventstore.command_id": str(command),
        }
        with span("pgeventstore.execute", "internal", attributes) as traced:
            attempt = 1
            while True:
                current = await self.load(stream_id, conn=conn)
                decided = self.aggregate_type.decide(current, function, args, context, command)
                if not decided:
                    return current
                try:
                    return await self._save(current, decided, conn)
                except WrongExpectedVersion as conflict:
                    if conflict.actual == current.version:
                        # The stream did not move, yet the append was refused: the store found
                        # this command's event ids stored already (eventstore.find_stored_batch),
                        # so the command was executed before: sent twice, or sent again after
                        # its answer was lost. It takes effect once: the aggregate as it is.
                        logger.info(
                            "%s: command %s was executed before; nothing appended", stream_id, command
                        )
                        if traced is not None:
                            traced.add_event("executed before")
                        return current
                    # actual is None when the caller's REPEATABLE READ or SERIALIZABLE transaction
                    # cannot see the new version: every retry in it would fail the same way.
                    if attempt == self.retry.attempts or conflict.actual is None:
                        raise
                    logger.info(
                        "%s: concurrent append (expected version %s, actual %s), retry %d of %d",
                        stream_id,
                        conflict.expected,
                        conflict.actual,
                        attempt,
                        self.retry.attempts - 1,
                    )
                    if traced is not None:
                        traced.add_event("conflict", {"expected": str(conflict.expected)})
                    await _acompat.sleep(self.retry.delay(attempt))
                    attempt += 1

    async def _save(
        self, current: Aggregate[S], decided: tuple[NewEvent, ...], conn: psycopg.AsyncConnection[Any] | None
    ) -> Aggregate[S]:
        """Append ``decided`` after ``current``; after a lost connection, the same append again."""
        attempt = 1
        while True:
            try:
                return await self._append(current, decided, conn, again=attempt > 1)
            except psycopg.OperationalError as lost:
                if conn is not None or attempt == self.retry.attempts:
                    raise
                logger.warning(
                    "%s: connection failed during the append (%s); sending the same append again, "
                    "retry %d of %d",
                    current.stream_id,
                    lost,
                    attempt,
                    self.retry.attempts - 1,
                )
                await _acompat.sleep(self.retry.delay(attempt))
                attempt += 1

    async def _append(
        self,
        current: Aggregate[S],
        decided: tuple[NewEvent, ...],
        conn: psycopg.AsyncConnection[Any] | None,
        *,
        again: bool,
    ) -> Aggregate[S]:
        """One transaction (a savepoint in the caller's): append, fold, snapshot if due.

        ``again``: this append repeats one whose outcome is unknown. If that one
        committed, the store returns its result and the events' ``recorded_at`` is not
        this transaction's, so the state is folded from the events as stored.
        """
        aggregate_type = self.aggregate_type
        version = current.version + len(decided)
        since = current.snapshot_version if current.snapshot_version is not None else -1
        snapshot_due = self.snapshot_every is not None and version - since >= self.snapshot_every
        async with self.store.connection(conn) as c, c.transaction():
            calls = self.store.calls
            _, recorded_at = await self.store.run(
                calls.append_recorded_at(current.stream_id, decided, current.version), c
            )
            if again:
                stored = await self.store.read_stream(
                    current.stream_id, from_version=current.version + 1, limit=len(decided), conn=c
                )
                state = aggregate_type.fold(current.state, stored)
            else:
                state = aggregate_type.fold_decided(current, decided, recorded_at, self.store.codec)
            if snapshot_due:
                await self.store.save_snapshot(
                    current.stream_id,
                    version,
                    aggregate_type.to_json(state),
                    aggregate_type.state_version,
                    conn=c,
                )
        return Aggregate(
            current.stream_id,
            state,
            version,
            version if snapshot_due else current.snapshot_version,
            current.replayed,
        )
