"""A projection of the Order Processing example: how many orders are in each status.

The read model is one table, ``order_status`` (one row per order, in the schema first on
the connection's search_path), kept by a :class:`~pgeventstore.subscription.Projection`
named ``orders-by-status`` that follows the category ``order`` (streams ``order-<id>``):
``OrderPlaced`` makes an order ``placed``, ``OrderShipped`` ``shipped`` and
``OrderCancelled`` ``cancelled``. Rows and checkpoint commit together, so the counts are
exact whatever crashes, and :func:`rebuild_orders_by_status` replays them from zero.
"""

from __future__ import annotations

from typing import Any

import psycopg

from pgeventstore.subscription import LogFilter, Projection
from pgeventstore.values import RecordedEvent

PROJECTION_NAME = "orders-by-status"
#: The read model's table.
READ_MODEL = "order_status"
STATUS_OF_EVENT = {"OrderPlaced": "placed", "OrderShipped": "shipped", "OrderCancelled": "cancelled"}


def ensure_read_model(conn: psycopg.Connection[Any]) -> None:
    """Create the ``order_status`` table if it is missing."""
    conn.execute(
        f"create table if not exists {READ_MODEL} ("
        " order_id text primary key, status text not null, version bigint not null)"
    )


def apply_order_event(conn: psycopg.Connection[Any], event: RecordedEvent) -> None:
    """Move the event's order to the status its type names (other types change nothing)."""
    status = STATUS_OF_EVENT.get(event.type)
    if status is None:
        return
    order_id = event.stream_id.split("-", 1)[1]
    conn.execute(
        f"insert into {READ_MODEL} (order_id, status, version) values (%s, %s, %s) "
        "on conflict (order_id) do update set status = excluded.status, version = excluded.version",
        (order_id, status, event.version),
    )


def reset_read_model(conn: psycopg.Connection[Any]) -> None:
    """Empty the read model (for a rebuild from the start of the log)."""
    ensure_read_model(conn)
    conn.execute(f"truncate {READ_MODEL}")


def orders_projection(dsn: str) -> Projection:
    """The projection keeping ``order_status``."""
    return Projection(
        dsn,
        PROJECTION_NAME,
        apply_order_event,
        reset=reset_read_model,
        log_filter=LogFilter(category="order", event_types=sorted(STATUS_OF_EVENT)),
    )


def orders_by_status(conn: psycopg.Connection[Any]) -> dict[str, int]:
    """The read model's counts: status -> number of orders."""
    rows = conn.execute(f"select status, count(*) from {READ_MODEL} group by status order by status")
    return {status: count for status, count in rows}


def build_orders_by_status(dsn: str) -> dict[str, int]:
    """Bring the projection up to date with the log and return its counts per status."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        ensure_read_model(conn)
        orders_projection(dsn).catch_up()
        return orders_by_status(conn)


def rebuild_orders_by_status(dsn: str) -> dict[str, int]:
    """Rebuild the read model from the start of the log and return its counts per status."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        orders_projection(dsn).rebuild()
        return orders_by_status(conn)
