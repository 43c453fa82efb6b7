"""Order Processing: an aggregate with three commands, three events and their rules.

An order is placed with items (positive quantity and price, money in integer cents), then
either shipped (with a tracking number) or cancelled; nothing happens to it afterwards.
The aggregate type ``orders`` bundles the reducers and the command handlers.
``OrderPlaced`` v1 events (written before orders had a currency) are upcast to v2.
"""

from __future__ import annotations

import dataclasses
import datetime
from typing import Any

from pgeventstore import NewEvent
from pgeventstore.aggregate import AggregateType, DomainError, Event


@dataclasses.dataclass(frozen=True)
class Item:
    """An order line: ``quantity`` units of ``sku`` at ``price_cents`` each."""

    sku: str
    quantity: int
    price_cents: int


@dataclasses.dataclass(frozen=True)
class PlaceOrder:
    """Command: place an order for ``customer``."""

    customer: str
    items: tuple[Item, ...]
    currency: str = "EUR"


@dataclasses.dataclass(frozen=True)
class CancelOrder:
    """Command: cancel a placed order."""

    reason: str


@dataclasses.dataclass(frozen=True)
class ShipOrder:
    """Command: ship a placed order."""

    tracking_number: str


@dataclasses.dataclass(frozen=True)
class Order:
    """An order's state; ``status`` is one of new, placed, shipped, cancelled.

    ``placed_at`` is when ``OrderPlaced`` was recorded.
    """

    status: str = "new"
    customer: str = ""
    items: tuple[Item, ...] = ()
    currency: str = ""
    tracking_number: str | None = None
    cancel_reason: str | None = None
    placed_at: datetime.datetime | None = None

    @property
    def total_cents(self) -> int:
        """What the order costs, in cents of ``currency``."""
        return sum(item.quantity * item.price_cents for item in self.items)


orders: AggregateType[Order] = AggregateType("order", Order())


@orders.handler
def place_order(order: Order, command: PlaceOrder) -> list[NewEvent]:
    """Decide ``OrderPlaced``: a new order with at least one item, all with positive quantity and price."""
    if order.status != "new":
        raise DomainError(f"the order is already {order.status}")
    if not command.items:
        raise DomainError("an order needs at least one item")
    for item in command.items:
        if item.quantity <= 0 or item.price_cents <= 0:
            raise DomainError(f"item {item.sku}: quantity and price must be positive")
    items = [dataclasses.asdict(item) for item in command.items]
    data = {"customer": command.customer, "items": items, "currency": command.currency}
    return [NewEvent("OrderPlaced", data)]


@orders.handler
def cancel_order(order: Order, command: CancelOrder) -> list[NewEvent]:
    """Decide ``OrderCancelled``: only a placed order can be cancelled."""
    if order.status != "placed":
        raise DomainError(f"only a placed order can be cancelled; this one is {order.status}")
    return [NewEvent("OrderCancelled", {"reason": command.reason})]


@orders.handler
def ship_order(order: Order, command: ShipOrder) -> list[NewEvent]:
    """Decide ``OrderShipped``: only a placed order ships, and only with a tracking number."""
    if order.status != "placed":
        raise DomainError(f"only a placed order can be shipped; this one is {order.status}")
    if not command.tracking_number.strip():
        raise DomainError("a shipment needs a tracking number")
    return [NewEvent("OrderShipped", {"tracking_number": command.tracking_number})]


@orders.upcaster("OrderPlaced", 1)
def _placed_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    # v1 predates multi-currency: every order was in euros.
    return {**data, "currency": "EUR"}


@orders.reducer("OrderPlaced")
def _placed(order: Order, event: Event) -> Order:
    items = tuple(Item(**item) for item in event.data["items"])
    return Order("placed", event.data["customer"], items, event.data["currency"], placed_at=event.recorded_at)


@orders.reducer("OrderCancelled")
def _cancelled(order: Order, event: Event) -> Order:
    return dataclasses.replace(order, status="cancelled", cancel_reason=event.data["reason"])


@orders.reducer("OrderShipped")
def _shipped(order: Order, event: Event) -> Order:
    return dataclasses.replace(order, status="shipped", tracking_number=event.data["tracking_number"])
