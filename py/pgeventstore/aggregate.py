"""Event-sourced aggregates: reducers, command handlers and a repository over the store.

An :class:`AggregateType` bundles a state's initial value, the reducers that fold events
into it (``(state, event) -> state``, one per event type, given an :class:`Event`), the
upcasters that turn old event shapes into current ones, its command handlers (plain
functions ``(state, *args) -> list[NewEvent]`` that raise :class:`DomainError` when a rule
is broken) and how the state is stored in a snapshot.

:class:`Repository` and :class:`AsyncRepository` load a stream with one call of
``eventstore.load_stream`` (snapshot plus later events), and ``execute`` a handler: load,
decide, append with the loaded version as the expected version, retry on
:class:`~pgeventstore.errors.WrongExpectedVersion`. Both run the same step generators
(:func:`_execute_steps`, driven with :class:`~pgeventstore.steps.StepRun`); they differ
only in how they perform a step's I/O.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import functools
import random
import time
import types
import typing
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from typing import Any, Generic, TypeVar

import psycopg

from pgeventstore.async_store import AsyncEventStore
from pgeventstore.errors import WrongExpectedVersion
from pgeventstore.steps import StepRun
from pgeventstore.store import Call, EventStore, StoreCalls
from pgeventstore.values import AppendResult, LoadedStream, NewEvent, RecordedEvent

S = TypeVar("S")
F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")

#: Metadata key holding an event's shape version (absent means 1).
SCHEMA_VERSION_KEY = "schema_version"
#: Metadata key of the id shared by every event a business process caused.
CORRELATION_ID_KEY = "correlation_id"
#: Metadata key of the id of the message (command or event) that caused the event.
CAUSATION_ID_KEY = "causation_id"

#: ``execute``'s append also returns the transaction's start time: the events' ``recorded_at``
#: (the column defaults to ``now()``), which reducers see before the events are read back.
APPEND_RECORDED_AT_SQL = (
    "select stream_version, first_position, last_position, now() "
    "from eventstore.append_to_stream(%s::text, %s::bigint, %s::jsonb)"
)


@dataclasses.dataclass(frozen=True)
class Event:
    """An event as a reducer sees it: stored (or being stored) at ``version`` of ``stream_id``.

    ``data`` is in the event type's current shape (upcast from the stored one);
    ``metadata`` is as stored, so its ``schema_version`` is the stored shape's.
    """

    stream_id: str
    version: int
    type: str
    data: Any
    metadata: Mapping[str, Any] | None
    recorded_at: datetime.datetime

    @classmethod
    def decided(cls, event: NewEvent, stream_id: str, version: int, recorded_at: datetime.datetime) -> Event:
        """``event`` as stored at ``version`` of ``stream_id`` by a transaction begun at ``recorded_at``."""
        return cls(stream_id, version, event.type, event.data, event.metadata, recorded_at)


#: A reducer: the state after one event, from the state before it and the event.
Reducer = Callable[[S, Event], S]
#: A command handler: the events a command decides, from the state and the command's arguments.
Handler = Callable[..., Sequence[NewEvent]]
#: An upcaster: an event's data in the next shape version, from its data in this one.
Upcaster = Callable[[Any], Any]


class DomainError(Exception):
    """A command broke a business rule; the handler decided no events and nothing was stored."""


@dataclasses.dataclass(frozen=True)
class CommandContext:
    """Ids that flow from a command into the metadata of the events it causes."""

    correlation_id: str | None = None
    causation_id: str | None = None

    def metadata(self) -> dict[str, str]:
        """The metadata entries for the ids that are set."""
        entries = {CORRELATION_ID_KEY: self.correlation_id, CAUSATION_ID_KEY: self.causation_id}
        return {key: value for key, value in entries.items() if value is not None}


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """How often :meth:`Repository.execute` retries after a concurrent append, and how long it waits.

    The wait before retry ``n`` (1-based) is uniform in ``[0, min(max_delay, base_delay * 2**n)]``
    ("full jitter"), so writers that collided once do not collide again in lockstep.
    """

    attempts: int = 10
    base_delay: float = 0.002
    max_delay: float = 0.1

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("RetryPolicy.attempts must be at least 1")

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry``."""
        return random.uniform(0.0, min(self.max_delay, self.base_delay * 2**retry))


@dataclasses.dataclass(frozen=True)
class Aggregate(Generic[S]):
    """One aggregate's state as of ``version`` (-1: the stream has no events).

    ``snapshot_version`` is the version of the snapshot the state was built from or just
    saved (None when there is none of the aggregate's state version); ``replayed`` counts
    the events folded into it on load.
    """

    stream_id: str
    state: S
    version: int
    snapshot_version: int | None
    replayed: int


def _from_json(annotation: Any, value: Any) -> Any:
    """``value`` (parsed JSON) rebuilt as ``annotation``: dataclasses, tuples, lists, optionals, datetimes."""
    if value is None:
        return None
    if annotation is datetime.datetime:
        return datetime.datetime.fromisoformat(value)
    if isinstance(annotation, type) and dataclasses.is_dataclass(annotation):
        hints = typing.get_type_hints(annotation)
        fields = {f.name: _from_json(hints[f.name], value[f.name]) for f in dataclasses.fields(annotation)}
        return annotation(**fields)
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (tuple, list) and args:
        return origin(_from_json(args[0], item) for item in value)
    if origin in (typing.Union, types.UnionType):
        concrete = [arg for arg in args if arg is not type(None)]
        return _from_json(concrete[0], value) if len(concrete) == 1 else value
    return value


def _dataclass_to_json(state: Any) -> Any:
    return dataclasses.asdict(state)


class AggregateType(Generic[S]):
    """An aggregate's initial state, reducers, upcasters, command handlers and snapshot settings.

    ``snapshot_every``: save a snapshot once that many events were appended since the last
    one (None: never). ``state_version``: the shape version of the state stored in
    snapshots; bump it when the state's shape changes and snapshots of other versions are
    ignored (the state is rebuilt from the events). ``to_json``/``from_json`` store the
    state; for a frozen dataclass (fields of dataclasses, ``tuple[X, ...]``, ``list[X]``,
    optionals, ``datetime`` and JSON values) the defaults do. Reducers, upcasters and
    command handlers are registered with the decorators :meth:`reducer`, :meth:`upcaster`
    and :meth:`handler`, or given as mappings (keyed by event type, by event type and
    version, and by handler name).
    """

    def __init__(
        self,
        name: str,
        initial: S,
        *,
        snapshot_every: int | None = 100,
        state_version: int = 1,
        to_json: Callable[[S], Any] | None = None,
        from_json: Callable[[Any], S] | None = None,
        reducers: Mapping[str, Reducer[S]] | None = None,
        upcasters: Mapping[tuple[str, int], Upcaster] | None = None,
        handlers: Mapping[str, Handler] | None = None,
    ) -> None:
        if snapshot_every is not None and snapshot_every < 1:
            raise ValueError("snapshot_every must be at least 1, or None")
        self.name = name
        self.initial = initial
        self.snapshot_every = snapshot_every
        self.state_version = state_version
        is_dataclass = dataclasses.is_dataclass(initial)
        self.to_json: Callable[[S], Any] = to_json or (_dataclass_to_json if is_dataclass else _identity)
        self.from_json: Callable[[Any], S] = from_json or (
            (lambda value: _from_json(type(initial), value)) if is_dataclass else _identity
        )
        self._reducers: dict[str, Reducer[S]] = dict(reducers or {})
        self._upcasters: dict[tuple[str, int], Upcaster] = dict(upcasters or {})
        self._handlers: dict[str, Handler] = dict(handlers or {})

    def reducer(self, event_type: str) -> Callable[[F], F]:
        """Register the decorated ``(state, event) -> state`` for events of ``event_type``."""

        def register(function: F) -> F:
            self._reducers[event_type] = function
            return function

        return register

    def upcaster(self, event_type: str, from_version: int) -> Callable[[F], F]:
        """Register the decorated ``(data) -> data`` turning ``event_type`` v``from_version`` into the next.

        The event type's current version is one more than its highest upcaster's
        ``from_version``; new events are stored with it in their metadata.
        """

        def register(function: F) -> F:
            self._upcasters[(event_type, from_version)] = function
            return function

        return register

    def handler(self, function: F) -> F:
        """Register the decorated ``(state, *args) -> list[NewEvent]`` as a handler, under its name."""
        self._handlers[function.__name__] = function
        return function

    def command_handler(self, handler: str | Handler) -> Handler:
        """The registered handler named ``handler``, or ``handler`` itself if it is registered.

        Raises ValueError for anything else, so a repository never runs another aggregate
        type's handler.
        """
        if isinstance(handler, str):
            found = self._handlers.get(handler)
        else:
            found = handler if any(handler is known for known in self._handlers.values()) else None
        if found is None:
            name = handler if isinstance(handler, str) else getattr(handler, "__name__", repr(handler))
            raise ValueError(
                f"{name!r} is not a command handler of the aggregate type {self.name!r}: "
                "register it with the decorator handler() or the handlers= mapping"
            )
        return found

    def event_version(self, event_type: str) -> int:
        """The current shape version of ``event_type``."""
        versions = [version for (kind, version) in self._upcasters if kind == event_type]
        return max(versions, default=0) + 1

    def upcast(self, event_type: str, data: Any, version: int) -> Any:
        """``data`` of an event stored in shape ``version``, brought to the current shape."""
        while (step := self._upcasters.get((event_type, version))) is not None:
            data = step(data)
            version += 1
        return data

    def event(self, recorded: RecordedEvent) -> Event:
        """The stored event as reducers see it: its data upcast to the current shape."""
        version = (recorded.metadata or {}).get(SCHEMA_VERSION_KEY, 1)
        data = self.upcast(recorded.type, recorded.data, version)
        return Event(
            recorded.stream_id, recorded.version, recorded.type, data, recorded.metadata, recorded.recorded_at
        )

    def apply(self, state: S, event: Event) -> S:
        """The state after one event in the current shape; types without a reducer change nothing."""
        reducer = self._reducers.get(event.type)
        return state if reducer is None else reducer(state, event)

    def fold(self, state: S, events: Iterable[RecordedEvent]) -> S:
        """The state after the stored ``events``, each upcast to its current shape first."""
        for recorded in events:
            state = self.apply(state, self.event(recorded))
        return state

    def restore(self, loaded: LoadedStream) -> Aggregate[S]:
        """The aggregate from what ``load_stream`` returned (asked for :attr:`state_version`)."""
        snapshot = loaded.snapshot
        start = self.initial if snapshot is None else self.from_json(snapshot.state)
        return Aggregate(
            stream_id=loaded.stream_id,
            state=self.fold(start, loaded.events),
            version=loaded.version,
            snapshot_version=None if snapshot is None else snapshot.version,
            replayed=len(loaded.events),
        )


def _identity(value: Any) -> Any:
    return value


@dataclasses.dataclass(frozen=True)
class _Load:
    """Step: load the stream (snapshot of ``schema_version`` plus later events)."""

    stream_id: str
    schema_version: int


@dataclasses.dataclass(frozen=True)
class _Save:
    """Step: append ``events`` at ``expected_version`` and, in the same transaction, the snapshot.

    The reply is the append's result and the events' ``recorded_at``; ``snapshot`` (None:
    none is due) gives the snapshot's state from that time.
    """

    stream_id: str
    events: tuple[NewEvent, ...]
    expected_version: int
    snapshot: Callable[[datetime.datetime], Any] | None
    schema_version: int

    def append(self, calls: StoreCalls) -> Call[tuple[AppendResult, datetime.datetime]]:
        """The append, returning the events' ``recorded_at`` too."""
        params = (self.stream_id, self.expected_version, calls.codec.events_payload(self.events))
        return Call(APPEND_RECORDED_AT_SQL, params, lambda rows: (AppendResult(*rows[0][:3]), rows[0][3]))


@dataclasses.dataclass(frozen=True)
class _Sleep:
    """Step: wait before retrying."""

    seconds: float


_Step = _Load | _Save | _Sleep


def _stamp(aggregate_type: AggregateType[Any], event: NewEvent, context: CommandContext | None) -> NewEvent:
    """``event`` with its shape version and the command's ids in its metadata."""
    metadata: dict[str, Any] = {SCHEMA_VERSION_KEY: aggregate_type.event_version(event.type)}
    if context is not None:
        metadata.update(context.metadata())
    metadata.update(event.metadata or {})
    return dataclasses.replace(event, metadata=metadata)


def _decided_state(
    aggregate_type: AggregateType[S],
    current: Aggregate[S],
    events: Sequence[NewEvent],
    recorded_at: datetime.datetime,
) -> S:
    """The state after ``events`` appended to ``current`` by a transaction begun at ``recorded_at``."""
    state = current.state
    for offset, event in enumerate(events, 1):
        state = aggregate_type.apply(
            state, Event.decided(event, current.stream_id, current.version + offset, recorded_at)
        )
    return state


def _snapshot_json(
    aggregate_type: AggregateType[S],
    current: Aggregate[S],
    events: Sequence[NewEvent],
    recorded_at: datetime.datetime,
) -> Any:
    return aggregate_type.to_json(_decided_state(aggregate_type, current, events, recorded_at))


def _load_steps(aggregate_type: AggregateType[S], stream_id: str) -> Generator[_Step, Any, Aggregate[S]]:
    loaded: LoadedStream = yield _Load(stream_id, aggregate_type.state_version)
    return aggregate_type.restore(loaded)


def _execute_steps(
    aggregate_type: AggregateType[S],
    snapshot_every: int | None,
    retry: RetryPolicy,
    stream_id: str,
    handler: Handler,
    args: tuple[Any, ...],
    context: CommandContext | None,
) -> Generator[_Step, Any, Aggregate[S]]:
    """Load, decide, save; on a concurrent append, wait and start over, ``retry.attempts`` times in all."""
    attempt = 1
    while True:
        current = yield from _load_steps(aggregate_type, stream_id)
        decided = tuple(_stamp(aggregate_type, event, context) for event in handler(current.state, *args))
        if not decided:
            return current
        version = current.version + len(decided)
        since = current.snapshot_version if current.snapshot_version is not None else -1
        snapshot_due = snapshot_every is not None and version - since >= snapshot_every
        snapshot = (
            functools.partial(_snapshot_json, aggregate_type, current, decided) if snapshot_due else None
        )
        try:
            _, recorded_at = yield _Save(
                stream_id, decided, current.version, snapshot, aggregate_type.state_version
            )
        except WrongExpectedVersion as conflict:
            # actual is None when the caller's REPEATABLE READ or SERIALIZABLE transaction
            # cannot see the new version: every retry in it would fail the same way.
            if attempt == retry.attempts or conflict.actual is None:
                raise
            yield _Sleep(retry.delay(attempt))
            attempt += 1
            continue
        return Aggregate(
            stream_id,
            _decided_state(aggregate_type, current, decided, recorded_at),
            version,
            version if snapshot_due else current.snapshot_version,
            current.replayed,
        )


StoreT = TypeVar("StoreT", EventStore, AsyncEventStore)


class _RepositoryBase(Generic[S, StoreT]):
    """What :class:`Repository` and :class:`AsyncRepository` share: settings and the steps to run."""

    def __init__(
        self,
        store: StoreT,
        aggregate_type: AggregateType[S],
        *,
        retry: RetryPolicy | None = None,
        snapshot_every: int | None = None,
    ) -> None:
        self.store: StoreT = store
        self.aggregate_type = aggregate_type
        self.retry = retry or RetryPolicy()
        self.snapshot_every = snapshot_every if snapshot_every is not None else aggregate_type.snapshot_every

    def _execute_steps(
        self,
        stream_id: str,
        handler: str | Handler,
        args: tuple[Any, ...],
        context: CommandContext | None,
    ) -> Generator[_Step, Any, Aggregate[S]]:
        # Resolved here, not in the generator, so an unknown handler fails before any I/O.
        function = self.aggregate_type.command_handler(handler)
        return _execute_steps(
            self.aggregate_type, self.snapshot_every, self.retry, stream_id, function, args, context
        )


class Repository(_RepositoryBase[S, EventStore]):
    """Loads and changes aggregates of one :class:`AggregateType` in an :class:`EventStore`.

    ``snapshot_every`` overrides the aggregate type's interval; ``retry`` bounds the
    retries of :meth:`execute`.
    """

    def load(self, stream_id: str, *, conn: psycopg.Connection[Any] | None = None) -> Aggregate[S]:
        """The aggregate's current state, from its snapshot and later events, in one round trip."""
        return self._drive(_load_steps(self.aggregate_type, stream_id), conn)

    def execute(
        self,
        stream_id: str,
        handler: str | Handler,
        *args: Any,
        context: CommandContext | None = None,
        conn: psycopg.Connection[Any] | None = None,
    ) -> Aggregate[S]:
        """Run ``handler(state, *args)`` and append its events; the aggregate afterwards.

        ``handler`` is one of the aggregate type's registered handlers, or its name.

        With ``conn``, everything runs on that connection and inside its transaction if one
        is open: the events and the snapshot commit or roll back with the caller's own
        writes (each attempt's append runs in a savepoint, so a conflict leaves the
        transaction usable for the retry).

        Raises ValueError for an unregistered handler, the handler's :class:`DomainError`
        (nothing stored), or :class:`~pgeventstore.errors.WrongExpectedVersion` when every
        attempt met a concurrent append.
        """
        return self._drive(self._execute_steps(stream_id, handler, args, context), conn)

    def _drive(self, steps: Generator[_Step, Any, T], conn: psycopg.Connection[Any] | None) -> T:
        run = StepRun(steps)
        for step in run:
            with run.failing_on(WrongExpectedVersion):
                run.outcome = self._perform(step, conn)
        return run.result

    def _perform(self, step: _Step, conn: psycopg.Connection[Any] | None) -> Any:
        if isinstance(step, _Load):
            return self.store.load_stream(step.stream_id, step.schema_version, conn=conn)
        if isinstance(step, _Sleep):
            time.sleep(step.seconds)
            return None
        with self.store.connection(conn) as c:
            if step.snapshot is None and _statement_is_transaction(c):
                return self.store.run(step.append(self.store.calls), c)
            # Inside a transaction this is a savepoint: a conflict rolls back only the
            # attempt, and the caller's transaction stays usable for the retry.
            with c.transaction():
                result, recorded_at = self.store.run(step.append(self.store.calls), c)
                if step.snapshot is not None:
                    self.store.save_snapshot(
                        step.stream_id,
                        result.stream_version,
                        step.snapshot(recorded_at),
                        step.schema_version,
                        conn=c,
                    )
        return result, recorded_at


def _statement_is_transaction(conn: psycopg.Connection[Any] | psycopg.AsyncConnection[Any]) -> bool:
    """Whether one statement on ``conn`` commits on its own, so a failed one harms nothing."""
    return conn.autocommit and conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE


class AsyncRepository(_RepositoryBase[S, AsyncEventStore]):
    """The asynchronous :class:`Repository`: the same steps, performed with ``await``."""

    async def load(self, stream_id: str, *, conn: psycopg.AsyncConnection[Any] | None = None) -> Aggregate[S]:
        """The aggregate's current state, from its snapshot and later events, in one round trip."""
        return await self._drive(_load_steps(self.aggregate_type, stream_id), conn)

    async def execute(
        self,
        stream_id: str,
        handler: str | Handler,
        *args: Any,
        context: CommandContext | None = None,
        conn: psycopg.AsyncConnection[Any] | None = None,
    ) -> Aggregate[S]:
        """Run ``handler(state, *args)`` and append its events; see :meth:`Repository.execute`."""
        return await self._drive(self._execute_steps(stream_id, handler, args, context), conn)

    async def _drive(self, steps: Generator[_Step, Any, T], conn: psycopg.AsyncConnection[Any] | None) -> T:
        run = StepRun(steps)
        for step in run:
            with run.failing_on(WrongExpectedVersion):
                run.outcome = await self._perform(step, conn)
        return run.result

    async def _perform(self, step: _Step, conn: psycopg.AsyncConnection[Any] | None) -> Any:
        if isinstance(step, _Load):
            return await self.store.load_stream(step.stream_id, step.schema_version, conn=conn)
        if isinstance(step, _Sleep):
            await asyncio.sleep(step.seconds)
            return None
        async with self.store.connection(conn) as c:
            if step.snapshot is None and _statement_is_transaction(c):
                return await self.store.run(step.append(self.store.calls), c)
            # A savepoint inside a transaction: see Repository._perform.
            async with c.transaction():
                result, recorded_at = await self.store.run(step.append(self.store.calls), c)
                if step.snapshot is not None:
                    await self.store.save_snapshot(
                        step.stream_id,
                        result.stream_version,
                        step.snapshot(recorded_at),
                        step.schema_version,
                        conn=c,
                    )
        return result, recorded_at


__all__ = [
    "Aggregate",
    "AggregateType",
    "AsyncRepository",
    "CommandContext",
    "DomainError",
    "Event",
    "Handler",
    "Repository",
    "RetryPolicy",
]
