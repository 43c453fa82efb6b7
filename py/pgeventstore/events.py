"""Typed events: a registry from event type names and shape versions to classes.

An :class:`EventRegistry` maps each event type name to a class (a dataclass: its fields
become the event's JSON data) and knows the upcasters that bring old shapes of an event
to the current one. It is used both ways:

* appending: :meth:`EventRegistry.new_event` turns an instance into a
  :class:`~pgeventstore.values.NewEvent` of its type name, stamped with the current
  shape version (metadata ``schema_version``);
* reading: :meth:`EventRegistry.event` turns a stored
  :class:`~pgeventstore.values.RecordedEvent` into an :class:`Event` whose ``data`` is an
  instance of the registered class, built from the data upcast to the current shape.

An event of a type the registry does not know (written by another program, or before
its class existed) is not an error: it reads as the generic :class:`Event`, whose
``data`` is the JSON value as stored (upcast if upcasters for its type are registered).

The aggregates use the same registry (``AggregateType(..., registry=...)``), so a reducer
gets the same :class:`Event`, with the same typed ``data``, when a command executes and
when the aggregate is loaded later.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import types
import typing
import uuid
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from pgeventstore.values import NewEvent, RecordedEvent, is_redacted

__all__ = ["SCHEMA_VERSION_KEY", "Event", "EventRegistry", "Upcaster", "from_json"]

C = TypeVar("C", bound=type)
F = TypeVar("F", bound=Callable[..., Any])

#: Metadata key holding an event's shape version (absent means 1).
SCHEMA_VERSION_KEY = "schema_version"

#: An upcaster: an event's data in the next shape version, from its data in this one.
Upcaster = Callable[[Any], Any]


@dataclasses.dataclass(frozen=True)
class Event:
    """An event as a reducer or a reader sees it: stored at ``version`` of ``stream_id``.

    ``data`` is in the event type's current shape (upcast from the stored one): an
    instance of the class registered for ``type``, or, for a type without a class (the
    generic event), the JSON value. ``metadata`` is as stored, so its ``schema_version``
    is the stored shape's.
    """

    stream_id: str
    version: int
    type: str
    data: Any
    metadata: Mapping[str, Any] | None
    recorded_at: datetime.datetime

    @classmethod
    def decided(cls, event: NewEvent, stream_id: str, version: int, recorded_at: datetime.datetime) -> Event:
        """``event`` as stored at ``version`` of ``stream_id`` by a transaction begun at ``recorded_at``.

        Its data as given, for testing reducers without a store; a repository hands
        reducers the data as read back instead (see ``AggregateType.fold_decided``).
        """
        return cls(stream_id, version, event.type, event.data, event.metadata, recorded_at)


def from_json(annotation: Any, value: Any) -> Any:
    """``value`` (parsed JSON) rebuilt as ``annotation``.

    Handles dataclasses (by their type hints), ``tuple[X, ...]``, ``list[X]``, optionals,
    ``datetime``/``date``, ``Decimal``, ``UUID``, enums and plain JSON values: the types
    :func:`~pgeventstore.codec.json_default` writes. The redaction marker stays the marker
    wherever it is (a forgotten subject's field, a redacted event's data): a reducer sees it.
    """
    if value is None or is_redacted(value):
        return value
    if annotation is datetime.datetime:
        return datetime.datetime.fromisoformat(value)
    if annotation is datetime.date:
        return datetime.date.fromisoformat(value)
    if annotation in (decimal.Decimal, uuid.UUID):
        return annotation(value if isinstance(value, str) else str(value))
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return annotation(value)
    if isinstance(annotation, type) and dataclasses.is_dataclass(annotation):
        hints = typing.get_type_hints(annotation)
        fields = {
            field.name: from_json(hints[field.name], value[field.name])
            for field in dataclasses.fields(annotation)
            if field.name in value
        }
        return annotation(**fields)
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (tuple, list) and args:
        return origin(from_json(args[0], item) for item in value)
    if origin in (typing.Union, types.UnionType):
        concrete = [arg for arg in args if arg is not type(None)]
        return from_json(concrete[0], value) if len(concrete) == 1 else value
    return value


class EventRegistry:
    """Event type names and their classes, shape versions and upcasters.

    Register a class with the decorator :meth:`register` (its name defaults to the
    class's) and an upcaster with :meth:`upcaster`. An event type's current shape
    version is one more than its highest upcaster's ``from_version`` (1 without any).
    """

    def __init__(self) -> None:
        self._classes: dict[str, type] = {}
        self._names: dict[type, str] = {}
        self._upcasters: dict[tuple[str, int], Upcaster] = {}

    def register(self, name: str | None = None) -> Callable[[C], C]:
        """Register the decorated class as the event type ``name`` (default: the class name)."""

        def register(cls: C) -> C:
            self.add(cls, name)
            return cls

        return register

    def add(self, cls: type, name: str | None = None) -> None:
        """Register ``cls`` as the event type ``name`` (default: the class name).

        Raises ValueError when the name or the class is registered already.
        """
        event_type = name or cls.__name__
        if event_type in self._classes or cls in self._names:
            raise ValueError(
                f"the event type {event_type!r} or the class {cls.__name__} is already registered"
            )
        self._classes[event_type] = cls
        self._names[cls] = event_type

    def upcaster(self, event_type: str | type, from_version: int) -> Callable[[F], F]:
        """Register the decorated ``(data) -> data`` turning ``event_type`` v``from_version`` into the next.

        It receives and returns JSON data (before the class is built), so the class
        only ever describes the current shape.
        """

        def register(function: F) -> F:
            self.add_upcaster(event_type, from_version, function)
            return function

        return register

    def add_upcaster(self, event_type: str | type, from_version: int, upcaster: Upcaster) -> None:
        """Register ``upcaster`` for ``event_type`` in shape ``from_version``."""
        self._upcasters[(self.type_name(event_type), from_version)] = upcaster

    def type_name(self, event_type: str | type) -> str:
        """The name of ``event_type``: itself if a string, else the registered class's name."""
        if isinstance(event_type, str):
            return event_type
        name = self._names.get(event_type)
        if name is None:
            raise ValueError(f"{event_type.__name__} is not a registered event class: register it first")
        return name

    def class_of(self, event_type: str) -> type | None:
        """The class registered for ``event_type``, or None (a generic event)."""
        return self._classes.get(event_type)

    def version(self, event_type: str) -> int:
        """The current shape version of ``event_type``."""
        versions = [version for (kind, version) in self._upcasters if kind == event_type]
        return max(versions, default=0) + 1

    def upcast(self, event_type: str, data: Any, version: int) -> Any:
        """``data`` of an event stored in shape ``version``, brought to the current shape."""
        while (step := self._upcasters.get((event_type, version))) is not None:
            data = step(data)
            version += 1
        return data

    def decode(self, event_type: str, data: Any, metadata: Mapping[str, Any] | None) -> Any:
        """Stored JSON ``data`` as the current shape: an instance of the registered class, or JSON.

        Data redacted as a whole is the redaction marker, neither upcast nor decoded.
        """
        if is_redacted(data):
            return data
        version = (metadata or {}).get(SCHEMA_VERSION_KEY, 1)
        current = self.upcast(event_type, data, version)
        cls = self._classes.get(event_type)
        return current if cls is None else from_json(cls, current)

    def event(self, recorded: RecordedEvent) -> Event:
        """A stored event as readers and reducers see it (see :class:`Event`)."""
        return Event(
            recorded.stream_id,
            recorded.version,
            recorded.type,
            self.decode(recorded.type, recorded.data, recorded.metadata),
            recorded.metadata,
            recorded.recorded_at,
        )

    def new_event(
        self,
        event: Any,
        *,
        metadata: Mapping[str, Any] | None = None,
        id: uuid.UUID | None = None,
    ) -> NewEvent:
        """The :class:`~pgeventstore.values.NewEvent` to append for ``event``.

        ``event`` is an instance of a registered class (its type name and current shape
        version are the registry's), or a ``NewEvent`` (kept, its shape version added
        unless its metadata has one). ``metadata`` is added to the event's own; ``id``
        is used when the event has none.
        """
        if isinstance(event, NewEvent):
            kind, data, own, event_id = event.type, event.data, event.metadata, event.id
        else:
            kind, data, own, event_id = self.type_name(type(event)), event, None, None
        stamped: dict[str, Any] = {SCHEMA_VERSION_KEY: self.version(kind)}
        stamped.update(metadata or {})
        stamped.update(own or {})
        return NewEvent(kind, data, stamped, event_id or id)
