"""The bank: accounts as aggregates, their typed events, and the read models that follow them.

Shared by ``run_sync.py`` and ``run_async.py``. Three event classes in one
:class:`~pgeventstore.EventRegistry` (``Opened``, ``Deposited``, ``Withdrawn``), the
account aggregate with its rules (a withdrawal never overdraws), and two followers of
the global log:

* the projection ``bank-balances`` keeps ``bank_balances`` (one row per account): its
  rows and its checkpoint commit together, so each event counts exactly once;
* the subscription ``bank-large-withdrawals`` records withdrawals of 500 cents or more
  in ``bank_alerts``; delivery is at least once, so the insert ignores an event it has
  already recorded.

Every command has an id derived from its request (:func:`command_id`): sending the
same request again, after a lost connection or a crash of the whole script, appends
nothing new (a request the account refused has no events, so sending it again decides
it anew).
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

import psycopg

from pgeventstore import AggregateType, DomainError, Event, EventRegistry, LogFilter, RecordedEvent

events = EventRegistry()


@events.register()
@dataclasses.dataclass(frozen=True)
class Opened:
    """An account was opened for ``owner``."""

    owner: str


@events.register()
@dataclasses.dataclass(frozen=True)
class Deposited:
    """``cents`` were paid in."""

    cents: int


@events.register()
@dataclasses.dataclass(frozen=True)
class Withdrawn:
    """``cents`` were paid out."""

    cents: int


@dataclasses.dataclass(frozen=True)
class Account:
    """An account's state: whose it is (empty: not open) and what it holds."""

    owner: str = ""
    balance_cents: int = 0


accounts = AggregateType("account", Account(), registry=events, snapshot_every=20)


@accounts.reducer(Opened)
def opened(account: Account, event: Event) -> Account:
    """The account of the new owner, empty."""
    return Account(owner=event.data.owner)


@accounts.reducer(Deposited)
def deposited(account: Account, event: Event) -> Account:
    """The balance plus the deposit."""
    return dataclasses.replace(account, balance_cents=account.balance_cents + event.data.cents)


@accounts.reducer(Withdrawn)
def withdrawn(account: Account, event: Event) -> Account:
    """The balance minus the withdrawal."""
    return dataclasses.replace(account, balance_cents=account.balance_cents - event.data.cents)


@accounts.handler
def open_account(account: Account, owner: str) -> list[Opened]:
    """Open the account, once."""
    if account.owner:
        raise DomainError("the account is already open")
    return [Opened(owner)]


@accounts.handler
def deposit(account: Account, cents: int) -> list[Deposited]:
    """Pay a positive amount into an open account."""
    if not account.owner:
        raise DomainError("open the account first")
    if cents <= 0:
        raise DomainError("deposit a positive amount")
    return [Deposited(cents)]


@accounts.handler
def withdraw(account: Account, cents: int) -> list[Withdrawn]:
    """Pay out, never more than the balance."""
    if cents > account.balance_cents:
        raise DomainError(f"only {account.balance_cents} cents available")
    return [Withdrawn(cents)]


#: The namespace of the command ids: one request, one id, whoever sends it how often.
REQUESTS = uuid.UUID("5f1b1c52-8a1e-4a8e-9d3e-6b0f4f4b2a10")


def command_id(request: str) -> uuid.UUID:
    """The command id of the request named ``request`` (the same on every run)."""
    return uuid.uuid5(REQUESTS, request)


def workload(customers: int, rounds: int) -> list[tuple[str, str, str, Any]]:
    """The requests of one run: (request, account, command, argument), in order.

    Customer ``n`` opens an account, then every round deposits ``100 * (round + 1) + n``
    cents, and every third round also withdraws 500 cents.
    """
    requests: list[tuple[str, str, str, Any]] = []
    for n in range(customers):
        requests.append((f"open-{n}", f"account-{n}", "open_account", f"customer {n}"))
    for r in range(rounds):
        for n in range(customers):
            requests.append((f"deposit-{n}-{r}", f"account-{n}", "deposit", 100 * (r + 1) + n))
            if r % 3 == 2:
                requests.append((f"withdraw-{n}-{r}", f"account-{n}", "withdraw", 500))
    return requests


BALANCES = "bank-balances"
ALERTS = "bank-large-withdrawals"
#: Only the accounts' events concern the followers.
ACCOUNT_EVENTS = LogFilter(category="account")

READ_MODELS = (
    "create table if not exists bank_balances ("
    " account_id text primary key, owner text not null, balance_cents bigint not null)",
    "create table if not exists bank_alerts (event_id uuid primary key, account_id text, cents bigint)",
)
OPEN_ROW = "insert into bank_balances values (%s, %s, 0)"
CHANGE_BALANCE = "update bank_balances set balance_cents = balance_cents + %s where account_id = %s"
ALERT = "insert into bank_alerts values (%s, %s, %s) on conflict (event_id) do nothing"
BALANCES_NOW = "select account_id, owner, balance_cents from bank_balances order by account_id"


def balance_change(event: RecordedEvent) -> tuple[str, tuple[Any, ...]]:
    """The statement and parameters that apply ``event`` to ``bank_balances``."""
    data = events.event(event).data
    if isinstance(data, Opened):
        return OPEN_ROW, (event.stream_id, data.owner)
    if isinstance(data, Deposited):
        return CHANGE_BALANCE, (data.cents, event.stream_id)
    if isinstance(data, Withdrawn):
        return CHANGE_BALANCE, (-data.cents, event.stream_id)
    raise ValueError(f"not an account event: {event.type}")


def large_withdrawal(event: RecordedEvent) -> tuple[Any, ...] | None:
    """The ``bank_alerts`` row of a withdrawal of 500 cents or more, else None."""
    data = events.event(event).data
    if isinstance(data, Withdrawn) and data.cents >= 500:
        return (event.id, event.stream_id, data.cents)
    return None


def apply_balance(conn: psycopg.Connection[Any], event: RecordedEvent) -> None:
    """The projection's handler: runs in the batch's transaction, with the checkpoint."""
    conn.execute(*balance_change(event))


async def apply_balance_async(conn: psycopg.AsyncConnection[Any], event: RecordedEvent) -> None:
    """:func:`apply_balance` on asyncio."""
    await conn.execute(*balance_change(event))
