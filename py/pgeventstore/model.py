"""Event-sourced aggregates without I/O: state, reducers, command handlers, retries.

An :class:`AggregateType` bundles a state's initial value, the reducers that fold events
into it (``(state, event) -> state``, one per event type, given an
:class:`~pgeventstore.events.Event`), an :class:`~pgeventstore.events.EventRegistry` (the
event classes and the upcasters that turn old event shapes into current ones), its
command handlers (plain functions ``(state, *args) -> events`` that raise
:class:`DomainError` when a rule is broken) and how the state is stored in a snapshot.
The repositories (:mod:`pgeventstore.aggregate`, :mod:`pgeventstore.async_aggregate`)
do the I/O.
"""

from __future__ import annotations

import dataclasses
import datetime
import random
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Generic, TypeVar

from pgeventstore.codec import JsonCodec
from pgeventstore.events import SCHEMA_VERSION_KEY, Event, EventRegistry, Upcaster
from pgeventstore.events import from_json as rebuild
from pgeventstore.values import LoadedStream, NewEvent, RecordedEvent

__all__ = [
    "CAUSATION_ID_KEY",
    "CORRELATION_ID_KEY",
    "SCHEMA_VERSION_KEY",
    "Aggregate",
    "AggregateType",
    "CommandContext",
    "DomainError",
    "Event",
    "EventRegistry",
    "Handler",
    "Reducer",
    "RetryPolicy",
    "Upcaster",
    "event_id",
]

S = TypeVar("S")
F = TypeVar("F", bound=Callable[..., Any])

#: Metadata key of the id shared by every event a business process caused.
CORRELATION_ID_KEY = "correlation_id"
#: Metadata key of the id of the message (command or event) that caused the event.
CAUSATION_ID_KEY = "causation_id"

#: A reducer: the state after one event, from the state before it and the event.
Reducer = Callable[[S, Event], S]
#: A command handler: the events a command decides (``NewEvent`` or registered event
#: instances), from the state and the command's arguments.
Handler = Callable[..., Sequence[Any]]


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


def event_id(command_id: uuid.UUID, index: int) -> uuid.UUID:
    """The id of the ``index``-th (0-based) event command ``command_id`` decides.

    Deterministic, so appending a command's events again is the store's idempotent retry.
    """
    return uuid.uuid5(command_id, str(index))


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """How often a repository tries again, and how long it waits before each retry.

    It bounds both retries of ``execute``: after a concurrent append (load and decide
    again) and after the connection failed during the append (the same append again,
    which the store recognises when the first one did commit). The wait before retry
    ``n`` (1-based) is uniform in ``[0, min(max_delay, base_delay * 2**n)]`` ("full
    jitter"), so writers that collided once do not collide again in lockstep.
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


def _dataclass_to_json(state: Any) -> Any:
    return dataclasses.asdict(state)


def _identity(value: Any) -> Any:
    return value


class AggregateType(Generic[S]):
    """An aggregate's initial state, reducers, events, command handlers and snapshot settings.

    ``registry``: the event classes and upcasters (a registry of its own when absent;
    share one between aggregate types and readers). ``snapshot_every``: save a snapshot
    once that many events were appended since the last one (None: never).
    ``state_version``: the shape version of the state stored in snapshots; bump it when
    the state's shape changes and snapshots of other versions are ignored (the state is
    rebuilt from the events). ``to_json``/``from_json`` store the state; for a frozen
    dataclass (fields of dataclasses, ``tuple[X, ...]``, ``list[X]``, optionals,
    ``datetime`` and JSON values) the defaults do. Reducers, upcasters and command
    handlers are registered with the decorators :meth:`reducer`, :meth:`upcaster` and
    :meth:`handler`, or given as mappings (keyed by event type, by event type and
    version, and by handler name).
    """

    def __init__(
        self,
        name: str,
        initial: S,
        *,
        registry: EventRegistry | None = None,
        snapshot_every: int | None = 100,
        state_version: int = 1,
        to_json: Callable[[S], Any] | None = None,
        from_json: Callable[[Any], S] | None = None,
        reducers: Mapping[str | type, Reducer[S]] | None = None,
        upcasters: Mapping[tuple[str, int], Upcaster] | None = None,
        handlers: Mapping[str, Handler] | None = None,
    ) -> None:
        if snapshot_every is not None and snapshot_every < 1:
            raise ValueError("snapshot_every must be at least 1, or None")
        self.name = name
        self.initial = initial
        self.registry = registry if registry is not None else EventRegistry()
        self.snapshot_every = snapshot_every
        self.state_version = state_version
        is_dataclass = dataclasses.is_dataclass(initial)
        self.to_json: Callable[[S], Any] = to_json or (_dataclass_to_json if is_dataclass else _identity)
        self.from_json: Callable[[Any], S] = from_json or (
            (lambda value: rebuild(type(initial), value)) if is_dataclass else _identity
        )
        self._reducers: dict[str, Reducer[S]] = {}
        for event_type, reducer in (reducers or {}).items():
            self._reducers[self.registry.type_name(event_type)] = reducer
        for (event_type, from_version), upcaster in (upcasters or {}).items():
            self.registry.add_upcaster(event_type, from_version, upcaster)
        self._handlers: dict[str, Handler] = dict(handlers or {})

    def reducer(self, event_type: str | type) -> Callable[[F], F]:
        """Register the decorated ``(state, event) -> state`` for events of ``event_type``.

        ``event_type`` is a type name or a class registered in :attr:`registry`.
        """

        def register(function: F) -> F:
            self._reducers[self.registry.type_name(event_type)] = function
            return function

        return register

    def upcaster(self, event_type: str | type, from_version: int) -> Callable[[F], F]:
        """Register the decorated ``(data) -> data`` turning ``event_type`` v``from_version`` into the next.

        It goes into :attr:`registry` (see :meth:`EventRegistry.upcaster`). The event
        type's current version is one more than its highest upcaster's
        ``from_version``; new events are stored with it in their metadata.
        """
        return self.registry.upcaster(event_type, from_version)

    def handler(self, function: F) -> F:
        """Register the decorated ``(state, *args) -> events`` as a handler, under its name."""
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
        return self.registry.version(event_type)

    def upcast(self, event_type: str, data: Any, version: int) -> Any:
        """``data`` of an event stored in shape ``version``, brought to the current shape."""
        return self.registry.upcast(event_type, data, version)

    def event(self, recorded: RecordedEvent) -> Event:
        """The stored event as reducers see it: its data upcast to the current shape."""
        return self.registry.event(recorded)

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

    def decide(
        self,
        current: Aggregate[S],
        handler: Handler,
        args: tuple[Any, ...],
        context: CommandContext | None,
        command_id: uuid.UUID,
    ) -> tuple[NewEvent, ...]:
        """The events ``handler`` decides on ``current``, stamped and with the command's event ids."""
        metadata = context.metadata() if context is not None else None
        return tuple(
            self.registry.new_event(event, metadata=metadata, id=event_id(command_id, index))
            for index, event in enumerate(handler(current.state, *args))
        )

    def fold_decided(
        self,
        current: Aggregate[S],
        decided: Sequence[NewEvent],
        recorded_at: datetime.datetime,
        codec: JsonCodec,
    ) -> S:
        """The state after ``decided`` is appended to ``current`` by a transaction begun at ``recorded_at``.

        Each event reaches the reducers as it will be read back: its data and metadata
        through the store's JSON codec, then the registry, so a reducer gets the same
        :class:`Event` now as when the aggregate is loaded later.
        """
        state = current.state
        for offset, new in enumerate(decided, 1):
            data = codec.loads(codec.dumps(new.data))
            metadata = None if new.metadata is None else codec.loads(codec.dumps(new.metadata))
            event = Event(
                current.stream_id,
                current.version + offset,
                new.type,
                self.registry.decode(new.type, data, metadata),
                metadata,
                recorded_at,
            )
            state = self.apply(state, event)
        return state
