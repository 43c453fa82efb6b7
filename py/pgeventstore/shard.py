"""A sharded store: a router database that routes the store's functions to shard databases.

Every shard is a complete store. The router holds the store too, with its API functions
replaced by PL/Proxy routing (the files of ``sql/router/``): each function addressed by a
stream runs on the shard of that stream's partition, ``hashtext(stream_id) & (N-1)`` of
N partitions, and callers see the unsharded store's results and errors, so the Python
client and any other language work unchanged against the router. :func:`init` installs
both sides; :func:`router_script` and :func:`shard_script` print the same as SQL for a
DBA. :func:`read_shards` reads the shards' global logs as one through a
:class:`ShardCursor`. See docs/scaling.md, "Sharding writes with PL/Proxy".
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import TupleRow

from pgeventstore import schema
from pgeventstore.calls import CONFIGURE_ROUTER_SQL, MAKE_SHARD_SQL, READ_SHARDS_SQL, Call
from pgeventstore.codec import JsonCodec
from pgeventstore.errors import translated
from pgeventstore.values import RecordedEvent

__all__ = ["ShardCursor", "ShardPage", "init", "read_shards", "router_files", "router_script", "shard_script"]


def router_files() -> list[Path]:
    """The router's files of ``sql/router/`` in install order, then ``sql/grants.sql`` again.

    The grants come last because the routing functions replace the store's, and the
    grants make every function of the schema run as its owner and set who may call it.
    """
    folder = schema.function_files()[0].parent
    router = folder / "router"
    names = [
        line.strip()
        for line in (router / "install-order.txt").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    return [router / name for name in names] + [folder / "grants.sql"]


def _install_routing(connstrs: Sequence[str], partitions: int) -> sql.Composed:
    """The statement configuring the router, with its arguments as literals."""
    return sql.SQL(CONFIGURE_ROUTER_SQL.replace("%s", "{}")).format(
        sql.Literal(list(connstrs)), sql.Literal(partitions)
    )


def init(router_dsn: str, shard_dsns: Sequence[str], partitions: int) -> list[str]:
    """Install or upgrade a sharded store: the store on every shard, the routing on the router.

    ``shard_dsns`` are the shards in order, shard 0 first; the router's server process
    connects to them with the same strings, so a password must come from a passfile (or
    ``.pgpass``) that process can read. Each shard gets the store (:func:`schema.migrate`)
    and its range of global positions (``eventstore.make_shard``); the router gets the
    store, the routing of ``sql/router/`` and the configuration
    (``eventstore_router.configure``: the first run assigns partition p to shard
    p % len(shard_dsns)), all in one transaction. Running it again with the same arguments
    upgrades every part and changes nothing else; more DSNs add shards (holding no
    partition until one is assigned to them). Returns the ids of the migrations applied
    to the router. Raises :class:`~pgeventstore.errors.InvalidArgument` for a partition
    count that is not a power of two of at least one per shard, fewer shards than the
    router has, or another partition count than it has.
    """
    for number, dsn in enumerate(shard_dsns):
        schema.migrate(dsn)
        with psycopg.connect(dsn, autocommit=True) as conn, translated():
            conn.execute(MAKE_SHARD_SQL, (number,))

    def install_routing(conn: psycopg.Connection[TupleRow]) -> None:
        for path in router_files():
            conn.execute(sql.SQL(path.read_text(encoding="utf-8")))
        conn.execute(_install_routing(shard_dsns, partitions))

    # The router refuses a change to its functions without this setting
    # (sql/router/refuse_unrouted_install.sql): migrate's part comes before the routing.
    options = f"{conninfo_to_dict(router_dsn).get('options') or ''} -c eventstore_router.installing=on"
    with translated():
        return schema.migrate(make_conninfo(router_dsn, options=options.strip()), then=install_routing)


def router_script(connstrs: Sequence[str], partitions: int) -> str:
    """The DBA's SQL script for an empty router database: what :func:`init` installs there.

    Apply it as a superuser (``create extension plproxy`` needs one) after installing each
    shard with :func:`shard_script`.
    """
    files = [*schema.migration_files(), *schema.function_files(), *router_files()]
    configure = _install_routing(connstrs, partitions).as_string(None)
    return schema.install_script(files, trailer=f"\n-- ==== the shards and partitions ====\n{configure};\n")


def shard_script(number: int) -> str:
    """The DBA's SQL script for an empty shard database: the store, made shard ``number``."""
    make_shard = sql.SQL(MAKE_SHARD_SQL.replace("%s", "{}")).format(sql.Literal(number)).as_string(None)
    return schema.install_script(trailer=f"\n-- ==== this store is shard {number} ====\n{make_shard};\n")


@dataclasses.dataclass(frozen=True)
class ShardCursor:
    """Where a reader of the shards' logs is: per shard (shard 0 first), the log number read to.

    ``event_ids`` holds the id of the event at each of those numbers (None: not known, as
    at the start), which each shard checks (ES419,
    :class:`~pgeventstore.errors.LogDiverged`, when its log no longer has it there). The
    empty cursor is the start of every shard's log; a shard beyond the end of the tuples
    starts at 0 too.
    """

    log_numbers: tuple[int, ...] = ()
    event_ids: tuple[uuid.UUID | None, ...] = ()


@dataclasses.dataclass(frozen=True)
class ShardPage:
    """A page of the shards' logs: ``(shard, event)`` in the merge order, and the cursor after it."""

    events: tuple[tuple[int, RecordedEvent], ...]
    cursor: ShardCursor


def _advance(cursor: ShardCursor, events: Sequence[tuple[int, RecordedEvent]]) -> ShardCursor:
    """``cursor`` moved, for each shard with events in the page, to its last one."""
    size = max([len(cursor.log_numbers), *(number + 1 for number, _ in events)])
    numbers = list(cursor.log_numbers) + [0] * (size - len(cursor.log_numbers))
    ids = list(cursor.event_ids) + [None] * (size - len(cursor.event_ids))
    for number, event in events:
        numbers[number] = event.log_number if event.log_number is not None else numbers[number]
        ids[number] = event.id
    return ShardCursor(tuple(numbers), tuple(ids))


def read_shards(
    codec: JsonCodec,
    cursor: ShardCursor,
    limit: int = 1000,
    *,
    event_types: Sequence[str] | None = None,
    category: str | None = None,
) -> Call[ShardPage]:
    """The call reading the page after ``cursor`` of every shard's log, on the router.

    Run it with ``store.run(...)`` of an :class:`~pgeventstore.EventStore` or
    :class:`~pgeventstore.AsyncEventStore` connected to the router (``codec``: that
    store's ``store.calls.codec``). ``eventstore.read_shards`` merges the shards' logs in
    the order (log number, shard); reading page after page with each page's ``cursor``
    returns every event of every shard once, in each shard's log order. An empty page
    means every shard is caught up.
    """
    types = list(event_types) if event_types is not None else None
    params = (list(cursor.log_numbers), limit, types, category, list(cursor.event_ids))

    def parse(rows: list[tuple[Any, ...]]) -> ShardPage:
        events = tuple((row[0], codec.recorded_event(row[1:])) for row in rows)
        return ShardPage(events, _advance(cursor, events))

    return Call(READ_SHARDS_SQL, params, parse)
