"""A persistence module for Python's ``eventsourcing`` library, on this store.

Select it with ``PERSISTENCE_MODULE=pgeventstore.eventsourcing`` and the library's own
``POSTGRES_*`` settings (``POSTGRES_DBNAME``, ``POSTGRES_HOST``, ``POSTGRES_PORT``,
``POSTGRES_USER``, ``POSTGRES_PASSWORD``, ``POSTGRES_CONNECT_TIMEOUT``,
``POSTGRES_POOL_SIZE``, ``POSTGRES_MAX_OVERFLOW``; ``ORIGINATOR_ID_TYPE`` ``uuid`` or
``text``), or a libpq connection string in ``PGEVENTSTORE_DSN`` (which they override).
The store must be installed (``pgeventstore migrate``); the login role needs
``eventstore_writer`` only. The mapping (docs/eventsourcing.md):

* an application's events go to the streams ``<category>-<originator id>``, whose
  category is the application's name in lower case (``stored`` without a name), its
  snapshots to ``<category>.snapshots-<originator id>``;
* a stored event's topic is the event type, its state the data (a JSON string holding the
  state's UTF-8 text, or ``{"base64": ...}`` for other bytes), its originator version
  ``metadata.originator_version`` (``eventstore.append_versioned``); the stream's
  0-based version is the store's own;
* notification ids are the store's log numbers; an application's notifications are the
  log's events of its category, so ids have gaps where other categories' events are;
* tracking records are rows of ``eventstore.tracking`` (``eventstore.record_tracking``).
"""

from __future__ import annotations

import base64
import contextlib
import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from threading import Thread
from typing import Any, Literal, cast
from uuid import UUID

import psycopg
import psycopg_pool
from eventsourcing.persistence import (
    AggregateRecorder,
    ApplicationRecorder,
    DatabaseError,
    DataError,
    InfrastructureFactory,
    IntegrityError,
    InterfaceError,
    InternalError,
    ListenNotifySubscription,
    Notification,
    NotSupportedError,
    OperationalError,
    PersistenceError,
    ProcessRecorder,
    ProgrammingError,
    StoredEvent,
    Subscription,
    Tracking,
    TrackingRecorder,
)
from eventsourcing.utils import Environment, EnvType, resolve_topic
from psycopg.conninfo import make_conninfo

from pgeventstore import errors
from pgeventstore.calls import (
    ES_APPEND_SQL,
    ES_LOG_NUMBERS_SQL,
    ES_MAX_NOTIFICATION_ID_SQL,
    ES_MAX_TRACKING_ID_SQL,
    ES_RECORD_TRACKING_SQL,
    ES_SELECT_EVENTS_SQL,
    ES_SELECT_NOTIFICATIONS_SQL,
    LISTEN_SQL,
)

__all__ = [
    "Factory",
    "PgEventStoreAggregateRecorder",
    "PgEventStoreApplicationRecorder",
    "PgEventStoreDatastore",
    "PgEventStoreProcessRecorder",
    "PgEventStoreTrackingRecorder",
]

#: The most events one call of the SQL API reads (``eventstore.check_max_count``).
_PAGE = 100_000
_BIGINT_MIN = -(2**63)
_BIGINT_MAX = 2**63 - 1
#: How often a subscription reads the log when no NOTIFY wakes it earlier: an event is
#: numbered only once every older transaction has ended, which no NOTIFY announces.
_POLL_INTERVAL = 0.1

OriginatorIdType = Literal["uuid", "text"]


@dataclass(frozen=True)
class _Range:
    """The versions one insert appended to one stream, and the events' places in the call."""

    stream_id: str
    from_version: int
    to_version: int
    indexes: tuple[int, ...]


def _library_error(error: BaseException) -> PersistenceError:
    """The ``eventsourcing`` exception for an error of the store or of psycopg."""
    if isinstance(error, errors.WrongExpectedVersion | errors.DuplicateEventId):
        return IntegrityError(str(error))
    if isinstance(error, errors.InvalidArgument):
        return DataError(str(error))
    if isinstance(error, errors.ReadOnlyStore | psycopg_pool.PoolTimeout | psycopg.OperationalError):
        return OperationalError(str(error))
    if isinstance(error, errors.EventStoreError | psycopg.ProgrammingError):
        return ProgrammingError(str(error))
    if isinstance(error, psycopg.InterfaceError):
        return InterfaceError(str(error))
    if isinstance(error, psycopg.IntegrityError):
        return IntegrityError(str(error))
    if isinstance(error, psycopg.DataError):
        return DataError(str(error))
    if isinstance(error, psycopg.InternalError):
        return InternalError(str(error))
    if isinstance(error, psycopg.NotSupportedError):
        return NotSupportedError(str(error))
    return DatabaseError(str(error))


@contextlib.contextmanager
def _translated() -> Iterator[None]:
    """Raise the store's and psycopg's errors as the library's persistence errors."""
    try:
        with errors.translated():
            yield
    except (errors.EventStoreError, psycopg.Error, psycopg_pool.PoolTimeout) as error:
        raise _library_error(error) from error


def _state_to_data(state: bytes) -> str | dict[str, str]:
    """The JSON value stored as an event's data: the state's text, or its bytes in base64.

    jsonb holds any Unicode text but U+0000, so the state's UTF-8 text, which the library's
    JSON transcoder produces, is kept as a JSON string and comes back byte for byte; other
    bytes (a compressor's or a cipher's) are kept as ``{"base64": ...}``.
    """
    if b"\x00" not in state:
        try:
            return state.decode("utf-8")
        except UnicodeDecodeError:
            pass
    return {"base64": base64.b64encode(state).decode("ascii")}


def _state(text: str | None, encoded: str | None) -> bytes:
    """The state bytes of an event's data (the inverse of :func:`_state_to_data`).

    ``text`` is the data when it is a JSON string, ``encoded`` its ``base64`` member.
    """
    if text is not None:
        return text.encode("utf-8")
    if encoded is None:
        msg = 'an event\'s data is neither a JSON string nor {"base64": ...}: not written by this module'
        raise DataError(msg)
    return base64.b64decode(encoded)


class PgEventStoreDatastore:
    """The connection pool every recorder of one factory shares."""

    def __init__(
        self,
        conninfo: str,
        *,
        pool_size: int = 5,
        max_overflow: int = 10,
        originator_id_type: OriginatorIdType = "uuid",
    ) -> None:
        """Open a pool of at most ``pool_size + max_overflow`` connections to ``conninfo``."""
        self.conninfo = conninfo
        self.originator_id_type: OriginatorIdType = originator_id_type
        self.pool: psycopg_pool.ConnectionPool[psycopg.Connection[tuple[Any, ...]]] = (
            psycopg_pool.ConnectionPool(
                conninfo,
                min_size=1,
                max_size=max(1, pool_size + max_overflow),
                kwargs={"autocommit": True},
                open=True,
            )
        )

    @contextlib.contextmanager
    def connection(self) -> Iterator[psycopg.Connection[tuple[Any, ...]]]:
        """A pooled connection in autocommit mode; errors become the library's."""
        with _translated(), self.pool.connection() as conn:
            yield conn

    def close(self) -> None:
        """Close the pool and its connections."""
        self.pool.close()


class PgEventStoreAggregateRecorder(AggregateRecorder):
    """Stores each originator's events in its own stream ``<category>-<originator id>``."""

    def __init__(self, datastore: PgEventStoreDatastore, category: str) -> None:
        """Record the events of the streams of ``category`` (a name without ``-``)."""
        self.datastore = datastore
        self.category = category

    def stream_id(self, originator_id: UUID | str) -> str:
        """The stream of an originator's events."""
        return f"{self.category}-{originator_id}"

    def originator_id(self, stream_id: str) -> UUID | str:
        """The originator whose events a stream of this recorder holds."""
        text = stream_id[len(self.category) + 1 :]
        return UUID(text) if self.datastore.originator_id_type == "uuid" else text

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        """Append the events, each originator's as one batch, all in one transaction."""
        with self.datastore.connection() as conn:
            self._insert(conn, stored_events, **kwargs)
        return None

    def _insert(
        self, conn: psycopg.Connection[tuple[Any, ...]], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> list[_Range]:
        """Append the events in one statement (one transaction); the version ranges they took."""
        batches: dict[str, list[int]] = {}
        for index, event in enumerate(stored_events):
            batches.setdefault(self.stream_id(event.originator_id), []).append(index)
        if not batches:
            return []
        documents = [
            json.dumps(
                [
                    {
                        "type": stored_events[i].topic,
                        "data": _state_to_data(stored_events[i].state),
                        "metadata": {"originator_version": stored_events[i].originator_version},
                    }
                    for i in indexes
                ]
            )
            for indexes in batches.values()
        ]
        rows = conn.execute(ES_APPEND_SQL, (list(batches), documents)).fetchall()
        return [
            _Range(stream_id, int(row[0]) - len(indexes) + 1, int(row[0]), tuple(indexes))
            for (stream_id, indexes), row in zip(batches.items(), rows, strict=True)
        ]

    def select_events(
        self,
        originator_id: UUID | str,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> Sequence[StoredEvent]:
        """The originator's events with versions in (gt, lte], ascending or descending."""
        stream_id = self.stream_id(originator_id)
        if (limit is not None and limit <= 0) or (gt is not None and lte is not None and gt >= lte):
            return []
        if (gt is not None and gt >= _BIGINT_MAX) or (lte is not None and lte < _BIGINT_MIN):
            return []
        low = None if gt is None or gt < _BIGINT_MIN else gt
        high = None if lte is None or lte > _BIGINT_MAX else lte
        events: list[StoredEvent] = []
        with self.datastore.connection() as conn:
            while limit is None or len(events) < limit:
                page = _PAGE if limit is None else min(_PAGE, limit - len(events))
                rows = conn.execute(ES_SELECT_EVENTS_SQL, (stream_id, low, high, desc, page)).fetchall()
                for _stream_id, topic, text, encoded, version in rows:
                    events.append(
                        StoredEvent(
                            originator_id=originator_id,
                            originator_version=version,
                            topic=topic,
                            state=_state(text, encoded),
                        )
                    )
                if len(rows) < page:
                    break
                if desc:
                    high = events[-1].originator_version - 1
                else:
                    low = events[-1].originator_version
        return events


class PgEventStoreApplicationRecorder(PgEventStoreAggregateRecorder, ApplicationRecorder):
    """An aggregate recorder whose notifications are its category's events in the store's log.

    A notification's id is the event's log number: dense across the store, assigned once
    the event is readable (every older transaction has ended), never reused or reordered.
    """

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        """Append the events; their notification ids, in the order of ``stored_events``.

        The ids are the events' log numbers, known once they are readable: after the
        commit, this waits until every transaction older than this one has ended (as
        the library's own PostgreSQL recorder waits for its table lock before writing).
        So an id returned is final: every event numbered later has a greater one.
        """
        with self.datastore.connection() as conn:
            ranges = self._insert(conn, stored_events, **kwargs)
            return self._notification_ids(conn, ranges, len(stored_events))

    def _notification_ids(
        self, conn: psycopg.Connection[tuple[Any, ...]], ranges: list[_Range], count: int
    ) -> list[int]:
        """The log numbers of the committed ranges, once all of them are numbered."""
        if not ranges:
            return []
        params = (
            [r.stream_id for r in ranges],
            [r.from_version for r in ranges],
            [r.to_version for r in ranges],
        )
        delay = 0.0005
        while True:
            rows = conn.execute(ES_LOG_NUMBERS_SQL, params).fetchall()
            numbers = [cast(list[int | None], row[0]) for row in rows]
            if all(n is not None for batch in numbers for n in batch):
                break
            # Older transactions are still open; writers' transactions are short.
            time.sleep(delay)
            delay = min(delay * 1.5, 0.005)
        ids = [0] * count
        for r, batch in zip(ranges, numbers, strict=True):
            for index, number in zip(r.indexes, batch, strict=True):
                assert number is not None
                ids[index] = number
        return ids

    def select_notifications(
        self,
        start: int | None,
        limit: int,
        stop: int | None = None,
        topics: Sequence[str] = (),
        *,
        inclusive_of_start: bool = True,
    ) -> Sequence[Notification]:
        """Up to ``limit`` of this category's events with ids from ``start`` to ``stop``.

        Any integers are valid bounds; the ids are read in ascending order.
        """
        after = 0 if start is None else (start - 1 if inclusive_of_start else start)
        if limit <= 0 or after >= _BIGINT_MAX or (stop is not None and stop <= after):
            return []
        after = max(after, 0)
        notifications: list[Notification] = []
        with self.datastore.connection() as conn:
            while len(notifications) < limit:
                page = min(_PAGE, limit - len(notifications))
                rows = conn.execute(
                    ES_SELECT_NOTIFICATIONS_SQL, (after, page, list(topics) or None, self.category)
                ).fetchall()
                for log_number, stream_id, topic, text, encoded, version in rows:
                    if stop is not None and log_number > stop:
                        return notifications
                    notifications.append(
                        Notification(
                            id=log_number,
                            originator_id=self.originator_id(stream_id),
                            originator_version=version,
                            topic=topic,
                            state=_state(text, encoded),
                        )
                    )
                if len(rows) < page:
                    break
                after = notifications[-1].id
        return notifications

    def max_notification_id(self) -> int | None:
        """The newest log number of this category's events; None when it has none."""
        with self.datastore.connection() as conn:
            row = conn.execute(ES_MAX_NOTIFICATION_ID_SQL, (self.category,)).fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def subscribe(
        self, gt: int | None = None, topics: Sequence[str] = ()
    ) -> Subscription[ApplicationRecorder]:
        """The category's notifications after ``gt``, then each new one as it is numbered."""
        return PgEventStoreSubscription(recorder=self, gt=gt, topics=topics)


class PgEventStoreSubscription(ListenNotifySubscription[PgEventStoreApplicationRecorder]):
    """Reads the log when the store notifies (``eventstore.notify``) and every 0.1 s.

    Notifications come at commit, but an event is numbered only once every older
    transaction has ended, so the subscription also polls.
    """

    def __init__(
        self, recorder: PgEventStoreApplicationRecorder, gt: int | None = None, topics: Sequence[str] = ()
    ) -> None:
        """Start reading after ``gt`` and listening for appends."""
        super().__init__(recorder=recorder, gt=gt, topics=topics)
        self._listen_thread = Thread(target=self._listen, daemon=True)
        self._listen_thread.start()

    def __exit__(self, *args: object, **kwargs: Any) -> None:
        """Stop, and wait for the listening thread."""
        try:
            super().__exit__(*args, **kwargs)
        finally:
            self._listen_thread.join()

    def _listen(self) -> None:
        try:
            with psycopg.connect(self._recorder.datastore.conninfo, autocommit=True) as conn:
                conn.execute(LISTEN_SQL)
                while not self._has_been_stopped and not self._thread_error:
                    for _ in conn.notifies(timeout=_POLL_INTERVAL, stop_after=1):
                        break
                    self._has_been_notified.set()
        except BaseException as error:
            if self._thread_error is None:
                self._thread_error = _library_error(error) if isinstance(error, psycopg.Error) else error
            self.stop()


class PgEventStoreTrackingRecorder(TrackingRecorder):
    """Records how far the application ``tracker`` processed each upstream notification log."""

    def __init__(self, datastore: PgEventStoreDatastore, tracker: str) -> None:
        """Record the tracking of the application named ``tracker``."""
        self.datastore = datastore
        self.tracker = tracker

    def insert_tracking(self, tracking: Tracking) -> None:
        """Record a tracking object; IntegrityError unless it moves the upstream's forward."""
        with self.datastore.connection() as conn:
            self._record(conn, tracking)

    def _record(self, conn: psycopg.Connection[tuple[Any, ...]], tracking: Tracking) -> None:
        conn.execute(
            ES_RECORD_TRACKING_SQL,
            (self.tracker, tracking.application_name, tracking.notification_id),
        )

    def max_tracking_id(self, application_name: str) -> int | None:
        """The newest notification id recorded for ``application_name``; None when none."""
        with self.datastore.connection() as conn:
            row = conn.execute(ES_MAX_TRACKING_ID_SQL, (self.tracker, application_name)).fetchone()
        return None if row is None or row[0] is None else int(row[0])


class PgEventStoreProcessRecorder(
    PgEventStoreApplicationRecorder, PgEventStoreTrackingRecorder, ProcessRecorder
):
    """An application recorder that records a tracking object with the events it appends."""

    def __init__(self, datastore: PgEventStoreDatastore, category: str, tracker: str) -> None:
        """Record the events of ``category`` and the tracking of ``tracker``."""
        PgEventStoreApplicationRecorder.__init__(self, datastore, category)
        self.tracker = tracker

    def _insert(
        self, conn: psycopg.Connection[tuple[Any, ...]], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> list[_Range]:
        tracking: Tracking | None = kwargs.get("tracking")
        if tracking is None:
            return super()._insert(conn, stored_events, **kwargs)
        with conn.transaction():
            self._record(conn, tracking)
            return super()._insert(conn, stored_events, **kwargs)


class Factory(InfrastructureFactory[PgEventStoreTrackingRecorder]):
    """Constructs this store's recorders from the library's ``POSTGRES_*`` settings."""

    #: A libpq connection string, as the command line takes it; POSTGRES_* settings override its parts.
    PGEVENTSTORE_DSN = "PGEVENTSTORE_DSN"
    POSTGRES_DBNAME = "POSTGRES_DBNAME"
    POSTGRES_HOST = "POSTGRES_HOST"
    POSTGRES_PORT = "POSTGRES_PORT"
    POSTGRES_USER = "POSTGRES_USER"
    POSTGRES_PASSWORD = "POSTGRES_PASSWORD"
    POSTGRES_CONNECT_TIMEOUT = "POSTGRES_CONNECT_TIMEOUT"
    POSTGRES_POOL_SIZE = "POSTGRES_POOL_SIZE"
    POSTGRES_MAX_OVERFLOW = "POSTGRES_MAX_OVERFLOW"
    ORIGINATOR_ID_TYPE = "ORIGINATOR_ID_TYPE"

    aggregate_recorder_class = PgEventStoreAggregateRecorder
    application_recorder_class = PgEventStoreApplicationRecorder
    tracking_recorder_class = PgEventStoreTrackingRecorder
    process_recorder_class = PgEventStoreProcessRecorder

    def __init__(self, env: Environment | EnvType | None) -> None:
        """Open the pool the settings describe; what they leave unset is libpq's default."""
        super().__init__(env)
        params: dict[str, str] = {}
        for key, setting in [
            ("dbname", self.POSTGRES_DBNAME),
            ("host", self.POSTGRES_HOST),
            ("port", self.POSTGRES_PORT),
            ("user", self.POSTGRES_USER),
            ("password", self.POSTGRES_PASSWORD),
            ("connect_timeout", self.POSTGRES_CONNECT_TIMEOUT),
        ]:
            value = self.env.get(setting)
            if value:
                params[key] = value
        id_type = (self.env.get(self.ORIGINATOR_ID_TYPE) or "uuid").lower()
        if id_type not in ("uuid", "text"):
            msg = f"Invalid {self.ORIGINATOR_ID_TYPE} {id_type!r}: 'uuid' or 'text' expected"
            raise OSError(msg)
        self.datastore = PgEventStoreDatastore(
            make_conninfo(self.env.get(self.PGEVENTSTORE_DSN) or "", **params),
            pool_size=self._integer(self.POSTGRES_POOL_SIZE, 5),
            max_overflow=self._integer(self.POSTGRES_MAX_OVERFLOW, 10),
            originator_id_type=cast(OriginatorIdType, id_type),
        )

    def _integer(self, setting: str, default: int) -> int:
        value = self.env.get(setting)
        if not value:
            return default
        try:
            return int(value)
        except ValueError:
            msg = f"{setting} must be an integer, got {value!r}"
            raise OSError(msg) from None

    def _prefix(self) -> str:
        """The application's category: its name in lower case, without ``-``."""
        return (self.env.name.lower() or "stored").replace("-", "_")

    def aggregate_recorder(self, purpose: str = "events") -> AggregateRecorder:
        """A recorder of the streams ``<name>-<id>`` (events) or ``<name>.<purpose>-<id>``."""
        category = self._prefix() if purpose == "events" else f"{self._prefix()}.{purpose}"
        return self.aggregate_recorder_class(self.datastore, category.replace("-", "_"))

    def application_recorder(self) -> ApplicationRecorder:
        """The application's recorder (``APPLICATION_RECORDER_TOPIC`` names a subclass)."""
        topic = self.env.get(self.APPLICATION_RECORDER_TOPIC)
        cls: type[PgEventStoreApplicationRecorder] = (
            resolve_topic(topic) if topic else self.application_recorder_class
        )
        return cls(self.datastore, self._prefix())

    def tracking_recorder(
        self, tracking_recorder_class: type[PgEventStoreTrackingRecorder] | None = None
    ) -> PgEventStoreTrackingRecorder:
        """The application's tracking recorder (a given class, the topic's, or the default)."""
        if tracking_recorder_class is None:
            topic = self.env.get(self.TRACKING_RECORDER_TOPIC)
            tracking_recorder_class = resolve_topic(topic) if topic else self.tracking_recorder_class
        return tracking_recorder_class(self.datastore, self._prefix())

    def process_recorder(self) -> ProcessRecorder:
        """The recorder of a process application (``PROCESS_RECORDER_TOPIC`` names a subclass)."""
        topic = self.env.get(self.PROCESS_RECORDER_TOPIC)
        cls: type[PgEventStoreProcessRecorder] = (
            resolve_topic(topic) if topic else self.process_recorder_class
        )
        return cls(self.datastore, self._prefix(), self._prefix())

    def close(self) -> None:
        """Close the connection pool."""
        self.datastore.close()
