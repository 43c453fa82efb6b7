"""Following the global log: a live reader, subscriptions and projections.

The guarantees are the database's (``eventstore.read_all``, ``read_category``,
``save_checkpoint``): a reader continuing from the log number of the last event it was
given never skips a committed event, never gets one twice and never gets one of a
rolled-back transaction, and a checkpoint whose number no longer names its event (the
log diverged, e.g. a failover) raises :class:`~pgeventstore.errors.LogDiverged` instead
of skipping. This module adds the loops around them:

* :func:`follow`: every event after a log number, then every new one; no checkpoint.
* :class:`AsyncSubscription`: catch up from a checkpoint, then follow the log live (a
  NOTIFY wake-up when enabled, polling always); the handler runs before the checkpoint
  is saved, so delivery is at least once.
* :class:`AsyncProjection`: the handler's writes and the checkpoint commit in one
  transaction, so each event's effect is applied exactly once, even across crashes.

Each reconnects after a server restart or a failover (the errors
:func:`~pgeventstore.recovery.retryable` names), waiting as its
:class:`~pgeventstore.recovery.ReconnectPolicy` says, and resumes from its checkpoint
(``follow``: from the last event it gave); any other error stops it.

Each takes a store (and so uses its pool and its JSON codec) or, as a shorthand, a DSN
(a store of its own is opened for each run and closed after it; ``loads`` is its JSON
decoder). On a store with replicas they read the log from the replicas and keep their
checkpoints on the primary: each round of reading (a catch-up, a wake-up while following)
first takes the primary's :meth:`~pgeventstore.async_store.AsyncEventStore.wal_position`,
and reads from a replica once it has replayed it, so they get what they would have got
from the primary, the events numbered up to their checkpoint included; a replica that has
not replayed it within the store's ``replica_timeout`` is skipped for the primary for
that read. The blocking module is generated from the asyncio one by
``scripts/async_to_sync.py``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import psycopg

from pgeventstore import _acompat
from pgeventstore.async_store import AsyncEventStore
from pgeventstore.calls import NOTIFY_CHANNEL, cursor_after
from pgeventstore.codec import JsonLoads
from pgeventstore.errors import CheckpointLost
from pgeventstore.observability import span
from pgeventstore.recovery import DEFAULT_RECONNECT, ReconnectPolicy, log_retry, retryable
from pgeventstore.recovery import logger as recovery_logger
from pgeventstore.values import ConsumerGroup, LogFilter, RecordedEvent, ReplicaRead, SubscriptionLag

__all__ = [
    "NOTIFY_CHANNEL",
    "AsyncHandler",
    "AsyncProjection",
    "AsyncProjectionHandler",
    "AsyncProjectionReset",
    "AsyncSubscription",
    "CheckpointLost",
    "ConsumerGroup",
    "LogFilter",
    "ReconnectPolicy",
    "SubscriptionLag",
    "follow",
]

#: A subscription's handler: called with each event.
AsyncHandler = Callable[[RecordedEvent], Awaitable[None] | None]
#: A projection's handler: writes the event's effect through the batch's connection.
AsyncProjectionHandler = Callable[[psycopg.AsyncConnection[Any], RecordedEvent], Awaitable[None] | None]
#: A projection's reset: empties the read model through the connection it is given.
AsyncProjectionReset = Callable[[psycopg.AsyncConnection[Any]], Awaitable[None] | None]

# One logger for both flavours (see pgeventstore.observability).
logger = logging.getLogger("pgeventstore.subscription")


@contextlib.asynccontextmanager
async def _opened(source: AsyncEventStore | str, loads: JsonLoads | None) -> AsyncIterator[AsyncEventStore]:
    """The store ``source`` names: itself, or a store of its own on a DSN, closed at the end."""
    if isinstance(source, str):
        async with AsyncEventStore(source, loads=loads) as store:
            yield store
    else:
        if loads is not None:
            raise ValueError("loads= is for a DSN: give it to the store instead")
        yield source


@contextlib.asynccontextmanager
async def _listening(store: AsyncEventStore) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    """A connection of ``store`` listening for the NOTIFY of appends, for as long as the block runs."""
    async with store.connection() as listener:
        await store.run(store.calls.listen(), listener)
        try:
            yield listener
        finally:
            # The connection goes back to the pool: it must not keep collecting notifications.
            if not listener.closed:
                await store.run(store.calls.unlisten(), listener)


async def _round(store: AsyncEventStore) -> ReplicaRead:
    """Where the reads of a round go: False (the primary) without replicas, else the primary's position."""
    return await store.wal_position() if store.replicas else False


async def _wait_for_append(listener: psycopg.AsyncConnection[Any], poll_interval: float) -> None:
    """Return on the first NOTIFY of an append, or after ``poll_interval`` seconds."""
    async for _ in listener.notifies(timeout=poll_interval, stop_after=1):
        pass


async def follow(
    source: AsyncEventStore | str,
    after: int = 0,
    log_filter: LogFilter | None = None,
    *,
    poll_interval: float = 0.5,
    page_size: int = 1000,
    loads: JsonLoads | None = None,
    reconnect: ReconnectPolicy | None = DEFAULT_RECONNECT,
) -> AsyncIterator[RecordedEvent]:
    """Every event after the log number ``after``, then every new one as it becomes readable.

    It never ends; each read after the first names the event it continues from, so a
    log that diverged raises :class:`~pgeventstore.errors.LogDiverged`. It saves no
    checkpoint (see :class:`AsyncSubscription` for that). It waits for the NOTIFY of
    appends (when ``eventstore.notify`` is on) or ``poll_interval`` seconds,
    whichever comes first; close the generator to stop. After a
    :func:`~pgeventstore.recovery.retryable` failure it reconnects as ``reconnect``
    says (None: it raises) and goes on after the last event it gave.
    """
    log_filter = log_filter or LogFilter()
    async with _opened(source, loads) as store:
        after_event_id = None
        retry = 0
        while True:
            try:
                async with _listening(store) as listener:
                    while True:
                        async for event in store.read_log(
                            log_filter,
                            after,
                            page_size=page_size,
                            after_event_id=after_event_id,
                            replica=await _round(store),
                        ):
                            yield event
                            after, after_event_id = cursor_after([event])
                        if retry:
                            recovery_logger.info("follow: reconnected after %d retries", retry)
                            retry = 0
                        await _wait_for_append(listener, poll_interval)
            except psycopg.Error as error:
                retry += 1
                if (
                    reconnect is None
                    or not retryable(error)
                    or reconnect.gives_up(retry)
                    or store.connection_lost
                ):
                    raise
                delay = reconnect.delay(retry)
                log_retry(f"follow after log number {after}", error, retry, delay)
                await _acompat.sleep(delay)


def _event_attributes(name: str, event: RecordedEvent) -> dict[str, str | int]:
    """The span attributes of delivering ``event`` to the follower ``name``."""
    return {
        "pgeventstore.subscription": name,
        "pgeventstore.stream_id": event.stream_id,
        "pgeventstore.event_type": event.type,
        "pgeventstore.log_number": event.log_number or 0,
    }


class _AsyncFollower:
    """What subscriptions and projections share: settings, stopping, following batch by batch."""

    def __init__(
        self,
        source: AsyncEventStore | str,
        name: str,
        *,
        log_filter: LogFilter | None,
        batch_size: int,
        poll_interval: float,
        listen: bool,
        loads: JsonLoads | None,
        reconnect: ReconnectPolicy | None,
    ) -> None:
        if loads is not None and not isinstance(source, str):
            raise ValueError("loads= is for a DSN: give it to the store instead")
        self.source = source
        self.name = name
        self.log_filter = log_filter or LogFilter()
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.listen = listen
        self.loads = loads
        self.reconnect = reconnect
        self._stop = _acompat.Event()
        # Events handled so far, and retries in a row (a batch that gets through ends a series).
        self._handled = 0
        self._retry = 0

    def stop(self) -> None:
        """Ask :meth:`run` to return after the current batch (within ``poll_interval``).

        It ends live following only: a later ``catch_up`` (or a projection's ``rebuild``)
        still reads to the end of the log.
        """
        self._stop.set()

    async def _batch(self, store: AsyncEventStore, replica: ReplicaRead) -> int | None:
        """Run one batch, reading as ``replica`` says: its size, or None when it lost its checkpoint."""
        raise NotImplementedError

    async def _follow(
        self, store: AsyncEventStore, listener: psycopg.AsyncConnection[Any] | None, live: bool
    ) -> None:
        """Batch after batch until caught up (a short batch) or stopped, counting events in ``_handled``.

        ``live``: once caught up, wait for new events and go on until stopped.
        """
        replica = await _round(store)
        while not (live and self._stop.is_set()):
            count = await self._batch(store, replica)
            if self._retry:
                recovery_logger.info("%s: reconnected after %d retries", self._who(), self._retry)
                self._retry = 0
            if count is None:
                continue
            self._handled += count
            if count < self.batch_size:
                if not live or self._stop.is_set():
                    break
                if listener is not None:
                    await _wait_for_append(listener, self.poll_interval)
                else:
                    await _acompat.wait(self._stop, self.poll_interval)
                replica = await _round(store)

    def _who(self) -> str:
        return f"{type(self).__name__} {self.name!r}"

    async def _recovering(self, store: AsyncEventStore, live: bool) -> int:
        """:meth:`_follow`, reconnecting after a retryable failure; return how many events.

        A batch that failed committed nothing of its own (a projection's rolled back, a
        subscription's checkpoint was not saved), so the next attempt starts from the
        checkpoint as the database has it.
        """
        before = self._handled
        while True:
            try:
                if live and self.listen:
                    async with _listening(store) as listener:
                        await self._follow(store, listener, live)
                else:
                    # Without a listener, waiting is sleeping on the stop event.
                    await self._follow(store, None, live)
                return self._handled - before
            except psycopg.Error as error:
                self._retry += 1
                policy = self.reconnect
                if (
                    policy is None
                    or not retryable(error)
                    or policy.gives_up(self._retry)
                    or store.connection_lost
                ):
                    raise
                delay = policy.delay(self._retry)
                log_retry(self._who(), error, self._retry, delay)
                if not live:
                    await _acompat.sleep(delay)
                    continue
                # stop() cuts the wait short.
                await _acompat.wait(self._stop, delay)
                if self._stop.is_set():
                    return self._handled - before

    async def catch_up(self) -> int:
        """Handle every event readable now; return how many were handled."""
        async with _opened(self.source, self.loads) as store:
            return await self._recovering(store, live=False)

    async def run(self) -> None:
        """Catch up, then follow the log live until :meth:`stop` is called.

        With ``listen`` it wakes up on the NOTIFY of appends when ``eventstore.notify``
        is on; it polls every ``poll_interval`` seconds regardless. A server restart or
        a failover does not end it: it reconnects as ``reconnect`` says and resumes from
        its checkpoint.
        """
        async with _opened(self.source, self.loads) as store:
            await self._recovering(store, live=True)


class AsyncSubscription(_AsyncFollower):
    """Delivers the log (or a filtered part of it) to ``handler``, at least once, in log order.

    Each batch is handed to the handler event by event, then the checkpoint named
    ``name`` is moved past it. A handler that raises stops the subscription before the
    checkpoint moves, so the batch is delivered again next time: make the handler
    idempotent, or use a projection. :meth:`run` follows the log until :meth:`stop`; with
    ``listen`` it also wakes up on the NOTIFY that appends send when ``eventstore.notify``
    is on, and it polls every ``poll_interval`` seconds regardless. ``reconnect`` says how
    it waits before reconnecting after a server restart or a failover (None: it raises
    instead); each delivery is an OpenTelemetry span ``pgeventstore.deliver``.
    """

    def __init__(
        self,
        source: AsyncEventStore | str,
        name: str,
        handler: AsyncHandler,
        *,
        log_filter: LogFilter | None = None,
        batch_size: int = 100,
        poll_interval: float = 0.5,
        listen: bool = True,
        loads: JsonLoads | None = None,
        reconnect: ReconnectPolicy | None = DEFAULT_RECONNECT,
    ) -> None:
        super().__init__(
            source,
            name,
            log_filter=log_filter,
            batch_size=batch_size,
            poll_interval=poll_interval,
            listen=listen,
            loads=loads,
            reconnect=reconnect,
        )
        self.handler = handler

    async def _batch(self, store: AsyncEventStore, replica: ReplicaRead) -> int:
        position = await store.load_checkpoint(self.name)
        events = await store.run_read(
            store.calls.read_log(self.log_filter, position, self.batch_size), replica
        )
        for event in events:
            with span("pgeventstore.deliver", "consumer", _event_attributes(self.name, event)):
                await _acompat.call(self.handler, event)
        if events:
            await store.save_checkpoint(self.name, cursor_after(events)[0])
        return len(events)


class AsyncProjection(_AsyncFollower):
    """A read model kept by ``handler``, each event's effect applied exactly once.

    For every batch, one transaction loads the checkpoint ``name``, reads the events
    after it, calls ``handler(conn, event)`` (which writes the read model through
    ``conn``) and saves the checkpoint with compare-and-set. A crash or an exception
    anywhere rolls back the handler's writes together with the checkpoint; a second
    instance racing on the same name loses the compare-and-set and its batch rolls back
    too. ``reset(conn)`` empties the read model: :meth:`rebuild` runs it and moves the
    checkpoint back to 0 in one transaction, then replays the log. :meth:`run` always
    listens for the NOTIFY of appends. ``reconnect`` is the subscription's; each event
    applied is an OpenTelemetry span ``pgeventstore.project``.
    """

    def __init__(
        self,
        source: AsyncEventStore | str,
        name: str,
        handler: AsyncProjectionHandler,
        *,
        reset: AsyncProjectionReset | None = None,
        log_filter: LogFilter | None = None,
        batch_size: int = 500,
        poll_interval: float = 0.5,
        loads: JsonLoads | None = None,
        reconnect: ReconnectPolicy | None = DEFAULT_RECONNECT,
    ) -> None:
        super().__init__(
            source,
            name,
            log_filter=log_filter,
            batch_size=batch_size,
            poll_interval=poll_interval,
            listen=True,
            loads=loads,
            reconnect=reconnect,
        )
        self.handler = handler
        self.reset = reset

    async def apply_batch(self, conn: psycopg.AsyncConnection[Any]) -> int:
        """Apply one batch in one transaction on ``conn`` (autocommit); return its size (0: caught up).

        Raises :class:`~pgeventstore.errors.CheckpointLost` (after rolling back) when
        another instance moved the checkpoint meanwhile. On a store with replicas the
        events are read from one that has replayed the primary's position now.
        """
        store = self.source
        if isinstance(store, str):
            store = AsyncEventStore(conn, loads=self.loads)
        replica = await store.wal_position(conn=conn) if store.replicas else False
        return await self._apply(store, conn, replica)

    async def _batch(self, store: AsyncEventStore, replica: ReplicaRead) -> int | None:
        async with store.connection() as conn:
            try:
                return await self._apply(store, conn, replica)
            except CheckpointLost as lost:
                logger.info("%s; applying the batch again from the new checkpoint", lost)
                return None

    async def _apply(
        self, store: AsyncEventStore, conn: psycopg.AsyncConnection[Any], replica: ReplicaRead
    ) -> int:
        # Numbered in a transaction of its own: numbering inside the batch's transaction
        # would keep other readers from numbering until the batch commits.
        await store.number_log(conn=conn)
        async with conn.transaction():
            # Instances of one projection take turns, batch by batch, so they do not apply
            # the same batch side by side only for all but one to roll back (or to collide
            # on the read model's keys first). Correctness does not depend on it: the
            # compare-and-set does.
            await store.run(store.calls.take_turn(self.name), conn)
            position = await store.load_checkpoint(self.name, conn=conn)
            # From a replica, the read runs outside this transaction: the compare-and-set
            # below still decides whether the batch was this instance's to apply.
            call = store.calls.read_log(self.log_filter, position, self.batch_size)
            events = await store.run_read(call, replica, conn)
            for event in events:
                with span("pgeventstore.project", "consumer", _event_attributes(self.name, event)):
                    await _acompat.call(self.handler, conn, event)
            if events and not await store.save_checkpoint(
                self.name, cursor_after(events)[0], position, conn=conn
            ):
                raise CheckpointLost(f"projection {self.name!r}: another instance saved the checkpoint first")
        return len(events)

    async def rebuild(self) -> int:
        """Empty the read model, move the checkpoint to 0 (one transaction), replay the log."""
        if self.reset is None:
            raise ValueError(f"projection {self.name!r} has no reset function: it cannot be rebuilt")
        async with _opened(self.source, self.loads) as store:
            async with store.connection() as conn, conn.transaction():
                await store.run(store.calls.take_turn(self.name), conn)
                await _acompat.call(self.reset, conn)
                current = await store.load_checkpoint(self.name, conn=conn)
                if current and not await store.save_checkpoint(self.name, 0, current, conn=conn):
                    # Raising rolls the reset back with the transaction: the read model and
                    # its checkpoint stay in step.
                    raise CheckpointLost(f"projection {self.name!r}: the checkpoint moved during rebuild")
            return await self._recovering(store, live=False)
