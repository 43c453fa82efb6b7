"""JSON in and out of the store: the standard library by default, or the caller's own.

What :func:`json_default` writes, and so what reading an event gives back (the database
stores plain JSON; the Python type is not recorded):

* a dataclass instance becomes an object of its fields (nested values converted by the
  same rules) and comes back as a ``dict``;
* ``uuid.UUID`` becomes its canonical string ``"12345678-1234-..."`` and comes back as ``str``;
* ``decimal.Decimal`` becomes a string with exactly its digits (``Decimal("12.30")`` gives
  ``"12.30"``, never a float) and comes back as ``str``; ``Decimal(s)`` restores it;
* ``datetime.datetime``, ``datetime.date`` and ``datetime.time`` become ISO 8601 strings
  (``isoformat()``, so an aware datetime keeps its UTC offset and a naive one has none)
  and come back as ``str``; ``datetime.fromisoformat`` restores them;
* an ``enum.Enum`` member becomes its value and comes back as that value (``IntEnum`` and
  ``StrEnum`` members are written by the standard library as their int or str already);
* ``set`` and ``frozenset`` become arrays sorted by their JSON text and come back as ``list``;
  tuples come back as ``list`` too (standard library behaviour).

Anything else raises ``TypeError`` before the database is called, as do NaN and the
infinities (``allow_nan=False``: JSON has no spelling for them and PostgreSQL rejects them).
To read values back as richer types, pass your own ``loads`` (for example
``functools.partial(json.loads, parse_float=Decimal)``); to write more types, pass a
``default`` that handles them (it is tried before the rules above) or a whole ``dumps``.

:func:`exact_loads` and :func:`exact_dumps` are such a pair for numbers: every JSON number
with a fraction or exponent is read as a ``Decimal`` and a ``Decimal`` is written as a JSON
number with exactly its digits, so numbers keep every digit both ways (``12.30`` stays
``12.30``). The command line uses them to move events without changing a digit.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import json
import re
import secrets
import sys
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from pgeventstore.values import LoadedStream, NewEvent, RecordedEvent, Snapshot

#: Serialises a Python value to JSON text.
JsonDumps = Callable[[Any], str]
#: Parses JSON text into a Python value.
JsonLoads = Callable[[str], Any]
#: Turns a value the JSON encoder cannot write into one it can, or raises TypeError.
JsonDefault = Callable[[Any], Any]


def json_default(value: Any) -> Any:
    """Convert ``value`` into something :func:`json.dumps` can write (see the module docs)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: getattr(value, field.name) for field in dataclasses.fields(value)}
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, set | frozenset):
        return sorted(value, key=lambda item: json.dumps(item, default=json_default, sort_keys=True))
    raise TypeError(f"cannot store a {type(value).__name__} as JSON: pass a default= that converts it")


def exact_dumps(value: Any) -> str:
    """JSON text of ``value`` with every finite ``Decimal`` written as a number with all its digits."""
    # Each Decimal is first written as a string carrying a mark no input can forge (U+0000
    # and a random word), which then loses its quotes and mark.
    mark = f"\x00{secrets.token_hex(8)}:"
    marked = False

    def convert(item: Any) -> Any:
        nonlocal marked
        if isinstance(item, decimal.Decimal) and item.is_finite():
            marked = True
            return f"{mark}{item}"
        return json_default(item)

    text = json.dumps(value, default=convert, allow_nan=False, ensure_ascii=False)
    if not marked:
        return text
    return re.sub(f'"{re.escape(json.dumps(mark)[1:-1])}([^"]*)"', r"\1", text)


def _exact_number(text: str) -> decimal.Decimal:
    try:
        return decimal.Decimal(text)
    except decimal.InvalidOperation:
        raise ValueError(f"the number {text[:20]}... is too large to read") from None


def _exact_int(text: str) -> int | decimal.Decimal:
    # int() refuses more digits than this limit; Decimal keeps them all.
    limit = sys.get_int_max_str_digits()
    return _exact_number(text) if limit and len(text) > limit else int(text)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON (JSON has no NaN or Infinity)")


def exact_loads(text: str) -> Any:
    """Parse JSON text with every digit kept; NaN and Infinity are refused (ValueError).

    Numbers with a fraction or exponent (and integers too long for ``int``) become ``Decimal``.
    """
    return json.loads(text, parse_float=_exact_number, parse_int=_exact_int, parse_constant=_no_constant)


class JsonCodec:
    """JSON in and out: the standard library with :func:`json_default`, or the caller's own.

    ``dumps`` and ``loads`` replace the whole encoder or decoder. ``default`` (used only
    with the built-in ``dumps``) converts the caller's own types first; what it does not
    handle it passes on by raising ``TypeError`` or returning the value unchanged.
    """

    def __init__(
        self,
        dumps: JsonDumps | None = None,
        loads: JsonLoads | None = None,
        *,
        default: JsonDefault | None = None,
    ) -> None:
        self._default = default
        self.dumps: JsonDumps = dumps or self._dumps
        self.loads: JsonLoads = loads or json.loads

    def _convert(self, value: Any) -> Any:
        if self._default is not None:
            try:
                converted = self._default(value)
            except TypeError:
                pass
            else:
                if converted is not value:
                    return converted
        return json_default(value)

    def _dumps(self, value: Any) -> str:
        return json.dumps(value, default=self._convert, allow_nan=False, ensure_ascii=False)

    def load_optional(self, text: str | None) -> Any:
        """Parse ``text``, mapping SQL NULL to None."""
        return None if text is None else self.loads(text)

    def events_payload(self, events: Iterable[NewEvent]) -> str:
        """The JSON array that ``append_to_stream`` takes."""
        items: list[dict[str, Any]] = []
        for event in events:
            item: dict[str, Any] = {"type": event.type, "data": event.data}
            if event.metadata is not None:
                item["metadata"] = event.metadata
            if event.id is not None:
                item["id"] = str(event.id)
            items.append(item)
        return self.dumps(items)

    def recorded_event(self, row: Sequence[Any]) -> RecordedEvent:
        """A :class:`RecordedEvent` from a row of ``eventstore.recorded_event``'s columns (data as text).

        A ninth column, when present, is the event's log number.
        """
        stream_id, version, position, event_id, event_type, data, metadata, recorded_at = row[:8]
        return RecordedEvent(
            stream_id=stream_id,
            version=version,
            global_position=position,
            id=event_id,
            type=event_type,
            data=self.load_optional(data),
            metadata=self.load_optional(metadata),
            recorded_at=recorded_at,
            log_number=row[8] if len(row) > 8 else None,
        )

    def loaded_stream(self, stream_id: str, rows: Iterable[Sequence[Any]]) -> LoadedStream:
        """A :class:`LoadedStream` from the rows of ``eventstore.load_stream`` (data as text)."""
        snapshot: Snapshot | None = None
        events: list[RecordedEvent] = []
        for kind, version, position, event_id, event_type, data, metadata, recorded_at, schema in rows:
            if kind == "snapshot":
                snapshot = Snapshot(stream_id, version, self.load_optional(data), schema, recorded_at)
            else:
                events.append(
                    self.recorded_event(
                        (stream_id, version, position, event_id, event_type, data, metadata, recorded_at)
                    )
                )
        return LoadedStream(stream_id, snapshot, events)
