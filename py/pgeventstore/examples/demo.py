"""What ``pgeventstore demo`` runs: the Order Processing example against a real database.

Each run is numbered by appending to the stream ``demo-runs``, places orders
``order-<run>-1..3``, ships one, cancels one, shows rejected commands, writes one order the
way an older release did (``OrderPlaced`` v1), then rebuilds every order of every run from
the database through a new connection, as a fresh process would, and counts orders per
status twice: from those aggregates, and from the projection of
:mod:`pgeventstore.examples.order_projection`, which follows the global log.
"""

from __future__ import annotations

import collections
import dataclasses
import re
from collections.abc import Callable, Mapping
from typing import Any

import psycopg

from pgeventstore import EventStore, NewEvent
from pgeventstore.aggregate import Aggregate, CommandContext, DomainError, Repository
from pgeventstore.examples.order_projection import PROJECTION_NAME, READ_MODEL, build_orders_by_status
from pgeventstore.examples.orders import (
    CancelOrder,
    Item,
    Order,
    PlaceOrder,
    ShipOrder,
    cancel_order,
    orders,
    place_order,
    ship_order,
)

#: Orders are short-lived (placed, then shipped or cancelled), so the demo snapshots every
#: two events to show a load that starts from a snapshot; the library's default is 100.
SNAPSHOT_EVERY = 2

#: How many of the latest runs' orders the demo prints (it rebuilds all of them).
SHOWN_RUNS = 3

Echo = Callable[[str], None]

#: The streams the demo writes: its run counter and its orders.
DEMO_STREAM = re.compile(r"demo-runs|order-[0-9]+-[0-9]+")

#: Tables, views, sequences and foreign tables outside the store's schema, except the
#: demo's read model and the yoyo tables an earlier release's ``migrate`` left (both in the
#: schema first on the search_path): at most three, for the message.
OTHER_RELATIONS_SQL = """
select pg_catalog.format('%%s %%I.%%I', case c.relkind when 'v' then 'view' when 'm' then 'materialized view'
       when 'S' then 'sequence' when 'f' then 'foreign table' else 'table' end, n.nspname, c.relname)
  from pg_catalog.pg_class c
  join pg_catalog.pg_namespace n on n.oid = c.relnamespace
 where c.relkind in ('r', 'p', 'v', 'm', 'S', 'f')
   and n.nspname not in ('pg_catalog', 'information_schema', 'eventstore')
   and n.nspname !~ '^pg_(toast|temp_)'
   and not (n.nspname = pg_catalog.current_schema() and (c.relname = %s or c.relname ~ '^_?yoyo_'))
 order by 1
 limit 3
"""
STORE_INSTALLED_SQL = "select pg_catalog.to_regclass('eventstore.events') is not null"


def foreign_data(conn: psycopg.Connection[Any]) -> list[str]:
    """What the database holds besides the demo's own data (empty: the demo may run there).

    Tables and the like outside the store's schema (but the demo's read model), a stream
    that is none of the demo's, a subscription that is not its projection.
    """
    found = [row[0] for row in conn.execute(OTHER_RELATIONS_SQL, (READ_MODEL,))]
    installed = conn.execute(STORE_INSTALLED_SQL).fetchone()
    if installed and installed[0]:
        store = EventStore(conn)
        other_stream = next(
            (s.stream_id for s in store.iter_streams() if not DEMO_STREAM.fullmatch(s.stream_id)), None
        )
        if other_stream is not None:
            found.append(f"stream {other_stream}")
        other_lags = [lag for lag in store.subscription_lag() if lag.subscription != PROJECTION_NAME]
        if other_lags:
            found.append(f"subscription {other_lags[0].subscription}")
    return found


def describe(order: Order) -> str:
    """One line about an order's state."""
    total = f"{order.total_cents // 100}.{order.total_cents % 100:02d} {order.currency}"
    detail = {"shipped": f", tracking {order.tracking_number}", "cancelled": f", {order.cancel_reason}"}
    return f"{order.status:<9} {order.customer:<6} {total:>10}{detail.get(order.status, '')}"


def run_demo(dsn: str, echo: Echo) -> None:
    """Run the example on the store at ``dsn`` (migrated), printing what happens."""
    with EventStore(dsn) as store:
        run = store.append("demo-runs", [NewEvent("DemoRun", {})]).stream_version + 1
        echo(f"demo run {run} (earlier runs' orders are still in the database)\n")
        repo = Repository(store, orders, snapshot_every=SNAPSHOT_EVERY)
        context = CommandContext(correlation_id=f"demo-run-{run}")

        def command(stream_id: str, handler: Callable[..., list[NewEvent]], cmd: object) -> None:
            label = f"  {stream_id:<11} {type(cmd).__name__:<12}"
            try:
                after: Aggregate[Order] = repo.execute(stream_id, handler, cmd, context=context)
            except DomainError as rejected:
                echo(f"{label} rejected: {rejected}")
                return
            echo(f"{label} ok: {after.state.status}, version {after.version}")

        book, pen, lamp = Item("book", 2, 1250), Item("pen", 3, 199), Item("lamp", 1, 4900)
        first, second, third = (f"order-{run}-{n}" for n in (1, 2, 3))
        echo("commands")
        command(first, place_order, PlaceOrder("ada", (book, pen)))
        command(second, place_order, PlaceOrder("grace", (lamp,), "USD"))
        command(first, ship_order, ShipOrder("1Z999AA10123456784"))
        command(second, cancel_order, CancelOrder("customer changed their mind"))
        command(second, ship_order, ShipOrder("1Z999AA10123456785"))
        command(f"order-{run}-4", place_order, PlaceOrder("alan", (Item("lamp", 0, 4900),)))
        # An order written by an older release: OrderPlaced v1 had no currency.
        legacy = {"customer": "linus", "items": [dataclasses.asdict(pen)]}
        store.append(third, [NewEvent("OrderPlaced", legacy, {"schema_version": 1})], -1)
        echo(f"  {third:<11} {'(legacy)':<12} OrderPlaced v1 appended directly, without a currency")
        command(third, ship_order, ShipOrder(" "))

    echo(f"\nevery order rebuilt through a new connection (snapshot every {SNAPSHOT_EVERY} events)")
    echo(f"  {'stream':<11} {'version':>7}  {'snapshot':<8} {'replayed':>8}  state")
    statuses: collections.Counter[str] = collections.Counter()
    shown = 0
    with EventStore(dsn) as fresh:
        reader = Repository(fresh, orders)
        for number in range(1, run + 1):
            for stream_id in (f"order-{number}-{n}" for n in (1, 2, 3)):
                order = reader.load(stream_id)
                if order.version < 0:
                    continue
                statuses[order.state.status] += 1
                if number > run - SHOWN_RUNS:
                    shown += 1
                    snapshot = "none" if order.snapshot_version is None else f"v{order.snapshot_version}"
                    echo(
                        f"  {stream_id:<11} {order.version:>7}  {snapshot:<8} {order.replayed:>8}  "
                        f"{describe(order.state)}"
                    )
        hidden = sum(statuses.values()) - shown
        if hidden:
            echo(f"  ({hidden} orders of earlier runs were rebuilt too; not shown)")
        event = fresh.read_stream(f"order-{run}-1", limit=1)[0]
        echo(f"\nmetadata of {event.type} in order-{run}-1: {dict(event.metadata or {})}")
    echo(f"orders per status, from the rebuilt aggregates: {counts(statuses)}")
    projected = build_orders_by_status(dsn)
    echo(f"orders per status, from the projection {PROJECTION_NAME} (global log): {counts(projected)}")


def counts(per_status: Mapping[str, int]) -> str:
    """``cancelled 1, placed 2``."""
    return ", ".join(f"{status} {count}" for status, count in sorted(per_status.items()))
