"""Following the global log: a live reader, subscriptions and projections.

The guarantees are the database's (``eventstore.read_all``, ``read_category``,
``save_checkpoint``): a reader continuing from the log number of the last event it was
given never skips a committed event, never gets one twice and never gets one of a
rolled-back transaction, and a checkpoint whose number no longer names its event (the
log diverged, e.g. a failover) raises :class:`~pgeventstore.errors.LogDiverged` instead
of skipping. This module adds the loops around them:

* :class:`Subscription` / :class:`AsyncSubscription`: catch up from a checkpoint, then
  follow the log live (a NOTIFY wake-up when enabled, polling always); the handler runs
  before the checkpoint is saved, so delivery is at least once.
* :class:`Projection`: the handler's writes and the checkpoint commit in one
  transaction, so each event's effect is applied exactly once, even across crashes.

Every database call is the store's (:class:`~pgeventstore.store.StoreCalls`); when to read,
deliver, save the checkpoint and wait is decided once, as steps (:mod:`pgeventstore.steps`),
which the sync and async classes only perform.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import dataclasses
import enum
import inspect
import threading
import uuid
from collections.abc import Awaitable, Callable, Generator, Iterator
from typing import Any, Generic, TypeVar

import psycopg

from pgeventstore.async_store import AsyncEventStore
from pgeventstore.codec import JsonCodec, JsonLoads
from pgeventstore.steps import StepRun
from pgeventstore.store import (
    Call,
    ConsumerGroup,
    EventStore,
    LogFilter,
    StoreCalls,
    SubscriptionLag,
    cursor_after,
)
from pgeventstore.values import RecordedEvent

__all__ = [
    "NOTIFY_CHANNEL",
    "AsyncSubscription",
    "CheckpointLost",
    "ConsumerGroup",
    "LogFilter",
    "Projection",
    "Subscription",
    "SubscriptionLag",
    "follow",
]

#: The channel ``eventstore.append_to_stream`` notifies when ``eventstore.notify = 'on'``.
NOTIFY_CHANNEL = "eventstore"


class CheckpointLost(Exception):
    """Another worker saved the subscription's checkpoint first; this one's batch is void."""


def _wait_for_append(listener: psycopg.Connection[Any], poll_interval: float) -> None:
    """Return on the first NOTIFY of an append, or after ``poll_interval`` seconds."""
    for _ in listener.notifies(timeout=poll_interval, stop_after=1):
        pass


def follow(
    dsn: str,
    after: int = 0,
    log_filter: LogFilter | None = None,
    *,
    poll_interval: float = 0.5,
    page_size: int = 1000,
    loads: JsonLoads | None = None,
) -> Iterator[RecordedEvent]:
    """Every event after the log number ``after``, then every new one as it becomes readable.

    It never ends; each read after the first names the event it continues from, so a
    log that diverged raises :class:`~pgeventstore.errors.LogDiverged`.

    Saves no checkpoint (see :class:`Subscription` for that). It waits for the NOTIFY of
    appends (when ``eventstore.notify`` is on) or ``poll_interval`` seconds, whichever
    comes first; close the generator to stop.
    """
    with (
        psycopg.connect(dsn, autocommit=True) as conn,
        psycopg.connect(dsn, autocommit=True) as listener,
    ):
        listener.execute(f"listen {NOTIFY_CHANNEL}")
        store = EventStore(conn, loads=loads)
        log_filter = log_filter or LogFilter()
        after_event_id: uuid.UUID | None = None
        while True:
            for event in store.read_log(
                log_filter, after, page_size=page_size, after_event_id=after_event_id
            ):
                yield event
                after, after_event_id = cursor_after([event])
            _wait_for_append(listener, poll_interval)


@dataclasses.dataclass(frozen=True)
class _Deliver:
    """A step of a batch: hand ``event`` to the handler."""

    event: RecordedEvent


class _Next(enum.Enum):
    """A step of following the log: run one batch (its outcome: the batch's size), or wait."""

    BATCH = enum.auto()
    WAIT = enum.auto()


HandlerT = TypeVar("HandlerT")


class _Follower(abc.ABC, Generic[HandlerT]):
    """What the subscriptions and the projection share: settings, stopping, and what to do when.

    :meth:`_follow_steps` and :meth:`_batch_steps` decide, without I/O; each subclass
    performs their steps on its own kind of connection.
    """

    def __init__(
        self,
        dsn: str,
        name: str,
        handler: HandlerT,
        *,
        log_filter: LogFilter | None = None,
        batch_size: int = 100,
        poll_interval: float = 0.5,
        listen: bool = True,
        loads: JsonLoads | None = None,
    ) -> None:
        self.dsn = dsn
        self.name = name
        self.handler = handler
        self.log_filter = log_filter or LogFilter()
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.listen = listen
        self.loads = loads
        self.calls = StoreCalls(JsonCodec(loads=loads))
        self._stop = self._stop_event()

    @abc.abstractmethod
    def _stop_event(self) -> threading.Event | asyncio.Event:
        """A new event that :meth:`stop` sets, of the kind the subclass can wait on."""

    def stop(self) -> None:
        """Ask :meth:`run` to return after the current batch (within ``poll_interval``).

        It ends live following only: a later ``catch_up`` (or a projection's ``rebuild``)
        still reads to the end of the log.
        """
        self._stop.set()

    def _follow_steps(self, live: bool) -> Generator[_Next, int | None, int]:
        """Batch after batch until caught up (a short batch) or stopped; return how many events.

        A batch's outcome is None when it lost its checkpoint to another instance: it is
        run again. ``live``: once caught up, wait for new events and go on until stopped.
        """
        handled = 0
        while not (live and self._stop.is_set()):
            count = yield _Next.BATCH
            if count is None:
                continue
            handled += count
            if count < self.batch_size:
                if not live or self._stop.is_set():
                    break
                yield _Next.WAIT
        return handled

    def _batch_steps(self, compare_and_set: bool) -> Generator[Call[Any] | _Deliver, Any, int]:
        """One batch after the checkpoint: deliver its events, then move the checkpoint past them.

        Without ``compare_and_set`` the checkpoint only moves forward; with it, only from
        the log number the batch was read after, else :class:`CheckpointLost` is raised.
        """
        position: int = yield self.calls.load_checkpoint(self.name)
        events: list[RecordedEvent] = yield self.calls.read_log(self.log_filter, position, self.batch_size)
        for event in events:
            yield _Deliver(event)
        if events:
            expected = position if compare_and_set else None
            saved = yield self.calls.save_checkpoint(self.name, cursor_after(events)[0], expected)
            if compare_and_set and not saved:
                raise CheckpointLost(f"projection {self.name!r}: another instance saved the checkpoint first")
        return len(events)


class _SyncFollower(_Follower[HandlerT]):
    """Follows the log on blocking connections; a subclass says how it runs one batch."""

    _stop: threading.Event

    def _stop_event(self) -> threading.Event:
        return threading.Event()

    @abc.abstractmethod
    def _run_batch(self, conn: psycopg.Connection[Any]) -> int | None:
        """Run one batch on ``conn``: its size, or None when it is to be run again."""

    def _follow(
        self, conn: psycopg.Connection[Any], listener: psycopg.Connection[Any] | None, live: bool
    ) -> int:
        run = StepRun(self._follow_steps(live))
        for step in run:
            if step is _Next.BATCH:
                run.outcome = self._run_batch(conn)
            elif listener is not None:
                _wait_for_append(listener, self.poll_interval)
            else:
                self._stop.wait(self.poll_interval)
        return run.result

    def catch_up(self) -> int:
        """Handle every event readable now; return how many were handled."""
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            return self._follow(conn, None, live=False)

    def run(self) -> None:
        """Catch up, then follow the log live until :meth:`stop` is called.

        With ``listen`` it wakes up on the NOTIFY of appends when ``eventstore.notify``
        is on; it polls every ``poll_interval`` seconds regardless.
        """
        with (
            psycopg.connect(self.dsn, autocommit=True) as conn,
            psycopg.connect(self.dsn, autocommit=True) as listener,
        ):
            if self.listen:
                listener.execute(f"listen {NOTIFY_CHANNEL}")
            # Without a listener, waiting is sleeping on the stop event.
            self._follow(conn, listener if self.listen else None, live=True)


Handler = Callable[[RecordedEvent], None]


class Subscription(_SyncFollower[Handler]):
    """Delivers the log (or a filtered part of it) to ``handler``, at least once, in log order.

    Each batch is handed to the handler event by event, then the checkpoint named
    ``name`` is moved past it. A handler that raises stops the subscription before the
    checkpoint moves, so the batch is delivered again next time: make the handler
    idempotent, or use a :class:`Projection`. :meth:`run` follows the log until
    :meth:`stop`; with ``listen`` it also wakes up on the NOTIFY that appends send when
    ``eventstore.notify`` is on, and it polls every ``poll_interval`` seconds regardless.
    """

    def _run_batch(self, conn: psycopg.Connection[Any]) -> int:
        store = EventStore(conn, loads=self.loads)
        run = StepRun(self._batch_steps(compare_and_set=False))
        for step in run:
            if isinstance(step, _Deliver):
                self.handler(step.event)
            else:
                run.outcome = store.run(step)
        return run.result


AsyncHandler = Callable[[RecordedEvent], Awaitable[None] | None]


class AsyncSubscription(_Follower[AsyncHandler]):
    """The asyncio twin of :class:`Subscription`; ``handler`` may be sync or async."""

    _stop: asyncio.Event

    def _stop_event(self) -> asyncio.Event:
        return asyncio.Event()

    async def _run_batch(self, conn: psycopg.AsyncConnection[Any]) -> int:
        store = AsyncEventStore(conn, loads=self.loads)
        run = StepRun(self._batch_steps(compare_and_set=False))
        for step in run:
            if isinstance(step, _Deliver):
                result = self.handler(step.event)
                if inspect.isawaitable(result):
                    await result
            else:
                run.outcome = await store.run(step)
        return run.result

    async def _follow(
        self, conn: psycopg.AsyncConnection[Any], listener: psycopg.AsyncConnection[Any] | None, live: bool
    ) -> int:
        run = StepRun(self._follow_steps(live))
        for step in run:
            if step is _Next.BATCH:
                run.outcome = await self._run_batch(conn)
            elif listener is not None:
                async for _ in listener.notifies(timeout=self.poll_interval, stop_after=1):
                    pass
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), self.poll_interval)
        return run.result

    async def catch_up(self) -> int:
        """Deliver every event readable now; return how many were delivered."""
        async with await psycopg.AsyncConnection.connect(self.dsn, autocommit=True) as conn:
            return await self._follow(conn, None, live=False)

    async def run(self) -> None:
        """Catch up, then follow the log live until :meth:`stop` is called."""
        async with (
            await psycopg.AsyncConnection.connect(self.dsn, autocommit=True) as conn,
            await psycopg.AsyncConnection.connect(self.dsn, autocommit=True) as listener,
        ):
            if self.listen:
                await listener.execute(f"listen {NOTIFY_CHANNEL}")
            await self._follow(conn, listener if self.listen else None, live=True)


ProjectionHandler = Callable[[psycopg.Connection[Any], RecordedEvent], None]
ProjectionReset = Callable[[psycopg.Connection[Any]], None]


class Projection(_SyncFollower[ProjectionHandler]):
    """A read model kept by ``handler``, each event's effect applied exactly once.

    For every batch, one transaction loads the checkpoint ``name``, reads the events
    after it, calls ``handler(conn, event)`` (which writes the read model through
    ``conn``) and saves the checkpoint with compare-and-set. A crash or an exception
    anywhere rolls back the handler's writes together with the checkpoint; a second
    instance racing on the same name loses the compare-and-set and its batch rolls back
    too. ``reset(conn)`` empties the read model: :meth:`rebuild` runs it and moves the
    checkpoint back to 0 in one transaction, then replays the log. :meth:`run` always
    listens for the NOTIFY of appends.
    """

    def __init__(
        self,
        dsn: str,
        name: str,
        handler: ProjectionHandler,
        *,
        reset: ProjectionReset | None = None,
        log_filter: LogFilter | None = None,
        batch_size: int = 500,
        poll_interval: float = 0.5,
        loads: JsonLoads | None = None,
    ) -> None:
        super().__init__(
            dsn,
            name,
            handler,
            log_filter=log_filter,
            batch_size=batch_size,
            poll_interval=poll_interval,
            loads=loads,
        )
        self.reset = reset

    def apply_batch(self, conn: psycopg.Connection[Any]) -> int:
        """Apply one batch in one transaction on ``conn`` (autocommit); return its size (0: caught up).

        Raises :class:`CheckpointLost` (after rolling back) when another instance
        moved the checkpoint meanwhile.
        """
        store = EventStore(conn, loads=self.loads)
        # Numbered in a transaction of its own: numbering inside the batch's transaction
        # would keep other readers from numbering until the batch commits.
        store.number_log()
        with conn.transaction():
            self._take_turn(conn)
            run = StepRun(self._batch_steps(compare_and_set=True))
            for step in run:
                if isinstance(step, _Deliver):
                    self.handler(conn, step.event)
                else:
                    run.outcome = store.run(step)
        return run.result

    def _run_batch(self, conn: psycopg.Connection[Any]) -> int | None:
        try:
            return self.apply_batch(conn)
        except CheckpointLost:
            return None

    def _take_turn(self, conn: psycopg.Connection[Any]) -> None:
        # Instances of one projection take turns, batch by batch, so they do not apply the
        # same batch side by side only for all but one to roll back (or to collide on the
        # read model's keys first). Correctness does not depend on it: the
        # compare-and-set does. An advisory lock, unlike a row lock, takes no
        # transaction id, which would hold back this transaction's own read.
        conn.execute(
            "select pg_advisory_xact_lock(hashtextextended('pgeventstore.projection:' || %s, 0))",
            (self.name,),
        )

    def rebuild(self) -> int:
        """Empty the read model, move the checkpoint to 0 (one transaction), replay the log."""
        if self.reset is None:
            raise ValueError(f"projection {self.name!r} has no reset function: it cannot be rebuilt")
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            store = EventStore(conn, loads=self.loads)
            with conn.transaction():
                self._take_turn(conn)
                self.reset(conn)
                current = store.load_checkpoint(self.name)
                if current and not store.save_checkpoint(self.name, 0, current):
                    # Raising rolls the reset back with the transaction: the read model and
                    # its checkpoint stay in step.
                    raise CheckpointLost(f"projection {self.name!r}: the checkpoint moved during rebuild")
            return self._follow(conn, None, live=False)
