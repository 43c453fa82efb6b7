"""Following the global log: readers, checkpoints, subscriptions and projections.

The guarantees are the database's (``eventstore.read_all``, ``read_category``,
``save_checkpoint``): a reader continuing from the global position of the last event it
was given never skips a committed event, never gets one twice and never gets one of a
rolled-back transaction. This module adds the loops around them:

* :class:`Subscription` / :class:`AsyncSubscription`: catch up from a checkpoint, then
  follow the log live (a NOTIFY wake-up when enabled, polling always); the handler runs
  before the checkpoint is saved, so delivery is at least once.
* :class:`Projection`: the handler's writes and the checkpoint commit in one
  transaction, so each event's effect is applied exactly once, even across crashes.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime
import inspect
import json
import threading
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any

import psycopg

from pgeventstore.errors import translated
from pgeventstore.values import RecordedEvent

#: The channel ``eventstore.append_to_stream`` notifies when ``eventstore.notify = 'on'``.
NOTIFY_CHANNEL = "eventstore"

_COLUMNS = (
    "stream_id, version, global_position, event_id, event_type, data::text, metadata::text, recorded_at"
)
READ_ALL_SQL = f"select {_COLUMNS} from eventstore.read_all(%s::bigint, %s::integer, %s::text[], %s::text)"
READ_CATEGORY_SQL = (
    f"select {_COLUMNS} from eventstore.read_category("
    "%s::text, %s::bigint, %s::integer, %s::integer, %s::integer, %s::text[])"
)
LOAD_CHECKPOINT_SQL = "select eventstore.load_checkpoint(%s::text)"
SAVE_CHECKPOINT_SQL = "select eventstore.save_checkpoint(%s::text, %s::bigint, %s::bigint)"
SUBSCRIPTION_LAG_SQL = (
    'select subscription, "position", events_behind, events_held_back, held_back_by_pid, '
    "held_back_since, updated_at from eventstore.subscription_lag()"
)


class CheckpointLost(Exception):
    """Another worker saved the subscription's checkpoint first; this one's batch is void."""


@dataclasses.dataclass(frozen=True)
class ConsumerGroup:
    """Member ``member`` (0-based) of a group of ``size`` sharing one category by stream."""

    member: int
    size: int


@dataclasses.dataclass(frozen=True)
class LogFilter:
    """Which part of the global log a reader follows: all of it, a category, some types."""

    category: str | None = None
    event_types: Sequence[str] | None = None
    group: ConsumerGroup | None = None

    def query(self, after: int, limit: int) -> tuple[str, tuple[Any, ...]]:
        """The SQL and parameters reading ``limit`` events after the cursor ``after``."""
        types = list(self.event_types) if self.event_types is not None else None
        if self.group is not None:
            if self.category is None:
                raise ValueError("a consumer group shares a category: give category too")
            return READ_CATEGORY_SQL, (
                self.category,
                after,
                limit,
                self.group.member,
                self.group.size,
                types,
            )
        return READ_ALL_SQL, (after, limit, types, self.category)


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


def _recorded(row: Sequence[Any], loads: Callable[[str], Any]) -> RecordedEvent:
    stream_id, version, position, event_id, event_type, data, metadata, recorded_at = row
    return RecordedEvent(
        stream_id=stream_id,
        version=version,
        global_position=position,
        id=event_id,
        type=event_type,
        data=None if data is None else loads(data),
        metadata=None if metadata is None else loads(metadata),
        recorded_at=recorded_at,
    )


def read_page(
    conn: psycopg.Connection[Any],
    after: int = 0,
    limit: int = 1000,
    log_filter: LogFilter | None = None,
    loads: Callable[[str], Any] | None = None,
) -> list[RecordedEvent]:
    """Up to ``limit`` readable events after the cursor ``after`` (a global position, 0: start)."""
    query, params = (log_filter or LogFilter()).query(after, limit)
    with translated():
        rows = conn.execute(query, params).fetchall()
    return [_recorded(row, loads or json.loads) for row in rows]


def iter_log(
    conn: psycopg.Connection[Any],
    after: int = 0,
    page_size: int = 1000,
    log_filter: LogFilter | None = None,
    loads: Callable[[str], Any] | None = None,
) -> Iterator[RecordedEvent]:
    """Every event readable now after ``after``, one page at a time; ends when caught up."""
    while page := read_page(conn, after, page_size, log_filter, loads):
        yield from page
        after = page[-1].global_position


def load_checkpoint(conn: psycopg.Connection[Any], subscription: str) -> int:
    """The subscription's checkpoint: the global position of its last processed event, 0 if none."""
    with translated():
        row = conn.execute(LOAD_CHECKPOINT_SQL, (subscription,)).fetchone()
    assert row is not None
    position: int = row[0]
    return position


def save_checkpoint(
    conn: psycopg.Connection[Any], subscription: str, position: int, expected: int | None = None
) -> bool:
    """Store the checkpoint: forward only, or compare-and-set against ``expected``; False if lost."""
    with translated():
        row = conn.execute(SAVE_CHECKPOINT_SQL, (subscription, position, expected)).fetchone()
    assert row is not None
    saved: bool = row[0]
    return saved


def subscription_lag(conn: psycopg.Connection[Any]) -> list[SubscriptionLag]:
    """Every checkpoint with how far it is behind the log's head and what holds it back."""
    with translated():
        return [SubscriptionLag(*row) for row in conn.execute(SUBSCRIPTION_LAG_SQL).fetchall()]


def follow(
    dsn: str,
    after: int = 0,
    log_filter: LogFilter | None = None,
    *,
    poll_interval: float = 0.5,
    page_size: int = 1000,
    loads: Callable[[str], Any] | None = None,
) -> Iterator[RecordedEvent]:
    """Every event after ``after``, then every new one as it becomes readable; never ends.

    Saves no checkpoint (see :class:`Subscription` for that). It waits for the NOTIFY of
    appends (when ``eventstore.notify`` is on) or ``poll_interval`` seconds, whichever
    comes first; close the generator to stop.
    """
    with (
        psycopg.connect(dsn, autocommit=True) as conn,
        psycopg.connect(dsn, autocommit=True) as listener,
    ):
        listener.execute(f"listen {NOTIFY_CHANNEL}")
        while True:
            for event in iter_log(conn, after, page_size, log_filter, loads):
                yield event
                after = event.global_position
            for _ in listener.notifies(timeout=poll_interval, stop_after=1):
                pass


Handler = Callable[[RecordedEvent], None]


class Subscription:
    """Delivers the log (or a filtered part of it) to ``handler``, at least once, in log order.

    Each batch is handed to the handler event by event, then the checkpoint named
    ``name`` is moved past it. A handler that raises stops the subscription before the
    checkpoint moves, so the batch is delivered again next time: make the handler
    idempotent, or use a :class:`Projection`. :meth:`run` follows the log until
    :meth:`stop`; with ``listen`` it also wakes up on the NOTIFY that appends send when
    ``eventstore.notify`` is on, and it polls every ``poll_interval`` seconds regardless.
    """

    def __init__(
        self,
        dsn: str,
        name: str,
        handler: Handler,
        *,
        log_filter: LogFilter | None = None,
        batch_size: int = 100,
        poll_interval: float = 0.5,
        listen: bool = True,
        loads: Callable[[str], Any] | None = None,
    ) -> None:
        self.dsn = dsn
        self.name = name
        self.handler = handler
        self.log_filter = log_filter or LogFilter()
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.listen = listen
        self.loads = loads
        self._stop = threading.Event()

    def stop(self) -> None:
        """Ask :meth:`run` to return after the current batch (within ``poll_interval``)."""
        self._stop.set()

    def _process_batch(self, conn: psycopg.Connection[Any]) -> int:
        position = load_checkpoint(conn, self.name)
        events = read_page(conn, position, self.batch_size, self.log_filter, self.loads)
        for event in events:
            self.handler(event)
        if events:
            save_checkpoint(conn, self.name, events[-1].global_position)
        return len(events)

    def catch_up(self) -> int:
        """Deliver every event readable now; return how many were delivered."""
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            return self._catch_up(conn)

    def _catch_up(self, conn: psycopg.Connection[Any]) -> int:
        delivered = 0
        while not self._stop.is_set():
            count = self._process_batch(conn)
            delivered += count
            if count < self.batch_size:
                break
        return delivered

    def run(self) -> None:
        """Catch up, then follow the log live until :meth:`stop` is called."""
        with (
            psycopg.connect(self.dsn, autocommit=True) as conn,
            psycopg.connect(self.dsn, autocommit=True) as listener,
        ):
            if self.listen:
                listener.execute(f"listen {NOTIFY_CHANNEL}")
            while not self._stop.is_set():
                self._catch_up(conn)
                if self._stop.is_set():
                    break
                if self.listen:
                    for _ in listener.notifies(timeout=self.poll_interval, stop_after=1):
                        pass
                else:
                    self._stop.wait(self.poll_interval)


AsyncHandler = Callable[[RecordedEvent], Awaitable[None] | None]


class AsyncSubscription:
    """The asyncio twin of :class:`Subscription`; ``handler`` may be sync or async."""

    def __init__(
        self,
        dsn: str,
        name: str,
        handler: AsyncHandler,
        *,
        log_filter: LogFilter | None = None,
        batch_size: int = 100,
        poll_interval: float = 0.5,
        listen: bool = True,
        loads: Callable[[str], Any] | None = None,
    ) -> None:
        self.dsn = dsn
        self.name = name
        self.handler = handler
        self.log_filter = log_filter or LogFilter()
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.listen = listen
        self.loads = loads
        self._stop = asyncio.Event()

    def stop(self) -> None:
        """Ask :meth:`run` to return after the current batch (within ``poll_interval``)."""
        self._stop.set()

    async def _process_batch(self, conn: psycopg.AsyncConnection[Any]) -> int:
        loads = self.loads or json.loads
        with translated():
            row = await (await conn.execute(LOAD_CHECKPOINT_SQL, (self.name,))).fetchone()
            assert row is not None
            query, params = self.log_filter.query(row[0], self.batch_size)
            rows = await (await conn.execute(query, params)).fetchall()
        events = [_recorded(r, loads) for r in rows]
        for event in events:
            result = self.handler(event)
            if inspect.isawaitable(result):
                await result
        if events:
            with translated():
                await conn.execute(SAVE_CHECKPOINT_SQL, (self.name, events[-1].global_position, None))
        return len(events)

    async def _catch_up(self, conn: psycopg.AsyncConnection[Any]) -> int:
        delivered = 0
        while not self._stop.is_set():
            count = await self._process_batch(conn)
            delivered += count
            if count < self.batch_size:
                break
        return delivered

    async def catch_up(self) -> int:
        """Deliver every event readable now; return how many were delivered."""
        async with await psycopg.AsyncConnection.connect(self.dsn, autocommit=True) as conn:
            return await self._catch_up(conn)

    async def run(self) -> None:
        """Catch up, then follow the log live until :meth:`stop` is called."""
        async with (
            await psycopg.AsyncConnection.connect(self.dsn, autocommit=True) as conn,
            await psycopg.AsyncConnection.connect(self.dsn, autocommit=True) as listener,
        ):
            if self.listen:
                await listener.execute(f"listen {NOTIFY_CHANNEL}")
            while not self._stop.is_set():
                await self._catch_up(conn)
                if self._stop.is_set():
                    break
                if self.listen:
                    async for _ in listener.notifies(timeout=self.poll_interval, stop_after=1):
                        pass
                else:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._stop.wait(), self.poll_interval)


ProjectionHandler = Callable[[psycopg.Connection[Any], RecordedEvent], None]
ProjectionReset = Callable[[psycopg.Connection[Any]], None]


class Projection:
    """A read model kept by ``handler``, each event's effect applied exactly once.

    For every batch, one transaction loads the checkpoint ``name``, reads the events
    after it, calls ``handler(conn, event)`` (which writes the read model through
    ``conn``) and saves the checkpoint with compare-and-set. A crash or an exception
    anywhere rolls back the handler's writes together with the checkpoint; a second
    instance racing on the same name loses the compare-and-set and its batch rolls back
    too. ``reset(conn)`` empties the read model: :meth:`rebuild` runs it and moves the
    checkpoint back to 0 in one transaction, then replays the log from the start.
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
        loads: Callable[[str], Any] | None = None,
    ) -> None:
        self.dsn = dsn
        self.name = name
        self.handler = handler
        self.reset = reset
        self.log_filter = log_filter or LogFilter()
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.loads = loads
        self._stop = threading.Event()

    def stop(self) -> None:
        """Ask :meth:`run` to return after the current batch (within ``poll_interval``)."""
        self._stop.set()

    def apply_batch(self, conn: psycopg.Connection[Any]) -> int:
        """Apply one batch in one transaction on ``conn`` (autocommit); return its size (0: caught up).

        Raises :class:`CheckpointLost` (after rolling back) when another instance
        moved the checkpoint meanwhile.
        """
        with conn.transaction():
            self._take_turn(conn)
            position = load_checkpoint(conn, self.name)
            events = read_page(conn, position, self.batch_size, self.log_filter, self.loads)
            for event in events:
                self.handler(conn, event)
            if events and not save_checkpoint(conn, self.name, events[-1].global_position, position):
                raise CheckpointLost(f"projection {self.name!r}: another instance saved the checkpoint first")
        return len(events)

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

    def catch_up(self) -> int:
        """Apply every event readable now; return how many were applied."""
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            return self._catch_up(conn)

    def _catch_up(self, conn: psycopg.Connection[Any]) -> int:
        applied = 0
        while not self._stop.is_set():
            try:
                count = self.apply_batch(conn)
            except CheckpointLost:
                continue
            applied += count
            if count < self.batch_size:
                break
        return applied

    def rebuild(self) -> int:
        """Empty the read model, move the checkpoint to 0 (one transaction), replay the log."""
        if self.reset is None:
            raise ValueError(f"projection {self.name!r} has no reset function: it cannot be rebuilt")
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            with conn.transaction():
                self._take_turn(conn)
                self.reset(conn)
                current = load_checkpoint(conn, self.name)
                if current:
                    save_checkpoint(conn, self.name, 0, current)
            return self._catch_up(conn)

    def run(self) -> None:
        """Catch up, then follow the log live until :meth:`stop` is called.

        Like :meth:`Subscription.run`: woken by the NOTIFY of appends when
        ``eventstore.notify`` is on, and polling every ``poll_interval`` seconds regardless.
        """
        with (
            psycopg.connect(self.dsn, autocommit=True) as conn,
            psycopg.connect(self.dsn, autocommit=True) as listener,
        ):
            listener.execute(f"listen {NOTIFY_CHANNEL}")
            while not self._stop.is_set():
                self._catch_up(conn)
                if self._stop.is_set():
                    break
                for _ in listener.notifies(timeout=self.poll_interval, stop_after=1):
                    pass
