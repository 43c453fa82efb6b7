"""The Order Processing example: its rules without a database, then through a repository."""

from __future__ import annotations

import datetime
import threading
import uuid
from collections.abc import Iterator

import pytest

from pgeventstore import EventStore, NewEvent
from pgeventstore.aggregate import DomainError, Event, Repository, RetryPolicy
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

BOOK = Item("book", 2, 1250)
PEN = Item("pen", 1, 199)
NOON = datetime.datetime(2026, 1, 2, 12, 0, tzinfo=datetime.UTC)


def stored(event: NewEvent, version: int = 0) -> Event:
    return Event.decided(event, "order-1", version, NOON)


def placed() -> Order:
    (event,) = place_order(Order(), PlaceOrder("ada", (BOOK, PEN)))
    return orders.apply(Order(), stored(event))


def test_placing_an_order() -> None:
    events = place_order(Order(), PlaceOrder("ada", (BOOK, PEN), "USD"))
    assert [event.type for event in events] == ["OrderPlaced"]
    order = orders.apply(Order(), stored(events[0]))
    assert (order.status, order.customer, order.items, order.currency) == (
        "placed",
        "ada",
        (BOOK, PEN),
        "USD",
    )
    assert order.total_cents == 2 * 1250 + 199
    assert order.placed_at == NOON


@pytest.mark.parametrize(
    ("items", "message"),
    [
        ((), "at least one item"),
        ((Item("book", 0, 1250),), "quantity and price must be positive"),
        ((Item("book", 1, -5),), "quantity and price must be positive"),
        ((BOOK, Item("pen", -1, 199)), "item pen"),
    ],
)
def test_items_need_positive_quantity_and_price(items: tuple[Item, ...], message: str) -> None:
    with pytest.raises(DomainError, match=message):
        place_order(Order(), PlaceOrder("ada", items))


def test_an_order_is_placed_once() -> None:
    with pytest.raises(DomainError, match="already placed"):
        place_order(placed(), PlaceOrder("ada", (BOOK,)))


def test_only_a_placed_order_ships_and_needs_a_tracking_number() -> None:
    with pytest.raises(DomainError, match="only a placed order can be shipped; this one is new"):
        ship_order(Order(), ShipOrder("1Z"))
    with pytest.raises(DomainError, match="tracking number"):
        ship_order(placed(), ShipOrder("  "))
    (event,) = ship_order(placed(), ShipOrder("1Z"))
    shipped = orders.apply(placed(), stored(event, 1))
    assert (shipped.status, shipped.tracking_number) == ("shipped", "1Z")
    with pytest.raises(DomainError, match="this one is shipped"):
        cancel_order(shipped, CancelOrder("too late"))


def test_only_a_placed_order_can_be_cancelled() -> None:
    with pytest.raises(DomainError, match="this one is new"):
        cancel_order(Order(), CancelOrder("changed my mind"))
    (event,) = cancel_order(placed(), CancelOrder("changed my mind"))
    cancelled = orders.apply(placed(), stored(event, 1))
    assert (cancelled.status, cancelled.cancel_reason) == ("cancelled", "changed my mind")
    with pytest.raises(DomainError, match="this one is cancelled"):
        ship_order(cancelled, ShipOrder("1Z"))


@pytest.fixture
def store(dsn: str) -> Iterator[EventStore]:
    with EventStore(dsn) as opened:
        yield opened


def test_orders_through_the_repository(store: EventStore) -> None:
    repo = Repository(store, orders, snapshot_every=2)
    order_id = f"order-{uuid.uuid4().hex[:8]}"
    repo.execute(order_id, place_order, PlaceOrder("ada", (BOOK, PEN)))
    # The aggregate type bundles its handlers: a name from a message or a route will do.
    after = repo.execute(order_id, "ship_order", ShipOrder("1Z999"))
    assert (after.state.status, after.version, after.snapshot_version) == ("shipped", 1, 1)
    loaded = Repository(store, orders).load(order_id)
    assert loaded.state == after.state
    assert (loaded.snapshot_version, loaded.replayed) == (1, 0)
    # The snapshot keeps placed_at, the recorded time of OrderPlaced, as a datetime.
    assert loaded.state.placed_at == store.read_stream(order_id)[0].recorded_at


def test_order_placed_v1_is_upcast_to_euros(store: EventStore) -> None:
    order_id = f"order-{uuid.uuid4().hex[:8]}"
    store.append(order_id, [NewEvent("OrderPlaced", {"customer": "bob", "items": [vars(BOOK)]})])
    order = Repository(store, orders).load(order_id).state
    assert (order.status, order.currency, order.items) == ("placed", "EUR", (BOOK,))


def test_racing_ship_and_cancel_on_one_order_one_wins(dsn: str, store: EventStore) -> None:
    order_id = f"order-{uuid.uuid4().hex[:8]}"
    Repository(store, orders).execute(order_id, place_order, PlaceOrder("ada", (BOOK,)))
    barrier = threading.Barrier(6)
    outcomes: list[str] = []

    def attempt(n: int) -> None:
        with EventStore(dsn) as own:
            repo = Repository(own, orders, retry=RetryPolicy(attempts=50))
            handler, command = (
                (ship_order, ShipOrder(f"T{n}")) if n % 2 else (cancel_order, CancelOrder(f"R{n}"))
            )
            barrier.wait()
            try:
                outcomes.append(repo.execute(order_id, handler, command).state.status)
            except DomainError:
                outcomes.append("rejected")

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [outcome for outcome in outcomes if outcome != "rejected"]
    assert len(outcomes) == 6
    assert len(winners) == 1
    order = Repository(store, orders).load(order_id)
    assert (order.version, order.state.status) == (1, winners[0])
