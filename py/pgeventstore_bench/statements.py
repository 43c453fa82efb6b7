"""The benchmark's payload, its floors' tables and statements, and the calls both sides make.

The store's statements are the client's own (:mod:`pgeventstore.calls`); the floors'
select the same columns in the same form, so that both sides send the client the same
bytes.
"""

from __future__ import annotations

import json
from typing import Any

import psycopg

from pgeventstore.calls import APPEND_EVENT_SQL, APPEND_SQL, EVENT_COLUMNS

Conn = psycopg.Connection[Any]

#: The payload of every event: a JSON object of about 200 bytes.
PAYLOAD: dict[str, Any] = {
    "order_id": "3f2c9d5e-7b1a-4e8f-9c6d-2a5b8e1f4c7d",
    "customer_id": "c-000042",
    "status": "placed",
    "items": [{"sku": "SKU-1001", "qty": 2, "price_cents": 1999}, {"sku": "SKU-2002", "qty": 1}],
    "total_cents": 5997,
    "currency": "EUR",
}
PAYLOAD_JSON = json.dumps(PAYLOAD)
EVENT_TYPE = "BenchEvent"

#: The schemas of the two floors.
FLOOR = "bench_floor"
HAND = "bench_hand"

# The same-indexes floor: the store's columns, defaults, constraints and indexes, no triggers.
FLOOR_SCHEMA_SQL = """
create schema bench_floor;
create table bench_floor.events (like eventstore.events including all);
create table bench_floor.snapshots (like eventstore.snapshots including all);
"""
# The hand-made floor: what a user would write for an event table, three indexes.
HAND_SCHEMA_SQL = """
create schema bench_hand;
create table bench_hand.events (
    global_position bigint generated always as identity primary key,
    stream_id text collate "C" not null,
    version bigint not null,
    event_id uuid not null unique,
    event_type text not null,
    data jsonb not null,
    metadata jsonb,
    recorded_at timestamptz not null default now(),
    unique (stream_id, version)
);
create table bench_hand.snapshots (
    stream_id text collate "C" primary key,
    version bigint not null,
    state jsonb not null
);
"""

#: Fill the hand-made table with the store's events as they are (a floor to read).
COPY_TO_HAND_SQL = (
    "insert into bench_hand.events "
    "(global_position, stream_id, version, event_id, event_type, data, metadata, recorded_at) "
    "overriding system value "
    "select global_position, stream_id, version, event_id, event_type, data, metadata, recorded_at "
    "from eventstore.events order by global_position"
)


def insert_sql(schema: str) -> str:
    """A floor's append of one event: one INSERT of the row (its own transaction when autocommit)."""
    return (
        f"insert into {schema}.events (stream_id, version, event_id, event_type, data) "
        "values (%s::text, %s::bigint, gen_random_uuid(), %s::text, %s::jsonb) returning global_position"
    )


FLOOR_INSERT_SQL = insert_sql(FLOOR)
HAND_INSERT_SQL = insert_sql(HAND)


def read_stream_sql(schema: str) -> str:
    """A floor's read of one stream: the rows of ``eventstore.read_stream``, plain."""
    return (
        f"select {EVENT_COLUMNS} from {schema}.events "
        "where stream_id = %s::text and version >= %s::bigint order by version limit %s::integer"
    )


# The store's cursor is the log number; the same-indexes floor pages in the gap-safe order
# (transaction_id, global_position) that the numbers follow, the hand-made table by
# position, as a user's table without that order would. The cursor columns come last, as
# the log number does in calls.READ_ALL_SQL (aliased: an output column named
# transaction_id, of type text, would be what ORDER BY sorts).
FLOOR_READ_ALL_SQL = (
    f"select {EVENT_COLUMNS}, transaction_id::text as cursor_xid from bench_floor.events "
    "where (transaction_id, global_position) > (%s::xid8, %s::bigint) "
    "order by transaction_id, global_position limit %s::integer"
)
HAND_READ_ALL_SQL = (
    f"select {EVENT_COLUMNS}, global_position as cursor from bench_hand.events "
    "where global_position > %s::bigint order by global_position limit %s::integer"
)

# A floor loads an aggregate as plain SQL would: the snapshot, then the events after it.
# (One statement with the snapshot version as a subquery gets a generic estimate of a third
# of the stream and a sequential scan: no floor at all.)


def snapshot_sql(schema: str) -> str:
    """A floor's read of a stream's snapshot."""
    return f"select version, state::text from {schema}.snapshots where stream_id = %s::text"


def tail_sql(schema: str) -> str:
    """A floor's read of the events after a snapshot."""
    return (
        f"select version, data::text from {schema}.events "
        "where stream_id = %s::text and version > %s::bigint order by version"
    )


def batch_json(count: int) -> str:
    """An append batch of ``count`` benchmark events, as JSON text."""
    return json.dumps([{"type": EVENT_TYPE, "data": PAYLOAD} for _ in range(count)])


def store_append(conn: Conn, stream_id: str, expected: int | None, events: str) -> int:
    """Append through eventstore.append_to_stream; return the new stream version."""
    row = conn.execute(APPEND_SQL, (stream_id, expected, events)).fetchone()
    assert row is not None
    version: int = row[0]
    return version


def store_append_event(conn: Conn, stream_id: str, expected: int | None) -> tuple[int, int]:
    """Append one benchmark event through eventstore.append_event; return (version, position)."""
    row = conn.execute(
        APPEND_EVENT_SQL, (stream_id, expected, EVENT_TYPE, PAYLOAD_JSON, None, None)
    ).fetchone()
    assert row is not None
    return row[0], row[1]


def floor_insert(conn: Conn, schema: str, stream_id: str, version: int) -> None:
    """Insert one event row into a floor's table (one statement, its own transaction)."""
    conn.execute(insert_sql(schema), (stream_id, version, EVENT_TYPE, PAYLOAD_JSON)).fetchone()


def floor_insert_batch(conn: Conn, schema: str, stream_id: str, first: int, count: int) -> None:
    """Insert ``count`` event rows into a floor's table, pipelined, in one transaction."""
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany(
            insert_sql(schema), [(stream_id, first + i, EVENT_TYPE, PAYLOAD_JSON) for i in range(count)]
        )
