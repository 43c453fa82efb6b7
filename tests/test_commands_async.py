"""Typed events and idempotent commands, through the repository.

The source of tests/test_commands_sync.py (scripts/async_to_sync.py), so both repositories
pass the same tests.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest
import pytest_asyncio  # async-only

from commit_proxy import commit_proxy
from pgeventstore import (
    AggregateType,
    AsyncEventStore,
    AsyncRepository,
    DomainError,
    Event,
    EventRegistry,
    NewEvent,
    RetryPolicy,
    event_id,
)

pytestmark = pytest.mark.asyncio  # async-only

registry = EventRegistry()


@registry.register()
@dataclasses.dataclass(frozen=True)
class Opened:
    owner: str


@registry.register("MoneyDeposited")
@dataclasses.dataclass(frozen=True)
class Deposited:
    amount: int


@registry.register()
@dataclasses.dataclass(frozen=True)
class Withdrawn:
    amount: int


@registry.upcaster(Deposited, 1)
def cents_to_amount(data: dict[str, Any]) -> dict[str, Any]:
    return {"amount": data["cents"]}


@dataclasses.dataclass(frozen=True)
class Account:
    owner: str | None = None
    balance: int = 0


def make_accounts(seen: list[Event], snapshot_every: int | None = None) -> AggregateType[Account]:
    """The account type; its reducers append every event they get to ``seen``."""
    accounts = AggregateType("account", Account(), registry=registry, snapshot_every=snapshot_every)

    @accounts.reducer(Opened)
    def opened(state: Account, event: Event) -> Account:
        seen.append(event)
        return dataclasses.replace(state, owner=event.data.owner)

    @accounts.reducer(Deposited)
    def deposited(state: Account, event: Event) -> Account:
        seen.append(event)
        return dataclasses.replace(state, balance=state.balance + event.data.amount)

    @accounts.reducer(Withdrawn)
    def withdrawn(state: Account, event: Event) -> Account:
        seen.append(event)
        if event.data.amount > 1000:
            raise RuntimeError("a reducer that fails on this event")
        return dataclasses.replace(state, balance=state.balance - event.data.amount)

    @accounts.reducer("Frozen")
    def frozen(state: Account, event: Event) -> Account:
        seen.append(event)
        return state

    @accounts.handler
    def open_account(state: Account, owner: str) -> list[Opened]:
        if state.owner is not None:
            raise DomainError("already open")
        return [Opened(owner)]

    @accounts.handler
    def deposit(state: Account, amount: int) -> list[Deposited]:
        return [Deposited(amount)]

    @accounts.handler
    def withdraw(state: Account, amount: int) -> list[Withdrawn]:
        return [Withdrawn(amount)]

    @accounts.handler
    def unregistered(state: Account) -> list[Any]:
        return [Account()]

    return accounts


@pytest_asyncio.fixture
async def store(dsn: str) -> AsyncIterator[AsyncEventStore]:
    async with AsyncEventStore(dsn) as opened:
        yield opened


def account() -> str:
    return f"account-{uuid.uuid4().hex[:8]}"


async def test_a_reducer_gets_the_same_typed_event_on_execute_and_on_load(store: AsyncEventStore) -> None:
    on_execute: list[Event] = []
    repo = AsyncRepository(store, make_accounts(on_execute))
    stream_id = account()
    await repo.execute(stream_id, "open_account", "ada")
    after = await repo.execute(stream_id, "deposit", 25)
    assert after.state == Account("ada", 25)
    # Deciding the deposit folded the opening again, as loaded.
    assert [type(event.data) for event in on_execute] == [Opened, Opened, Deposited]
    assert on_execute[0] == on_execute[1]

    on_load: list[Event] = []
    loaded = await AsyncRepository(store, make_accounts(on_load)).load(stream_id)
    assert loaded.state == after.state
    assert on_load == [on_execute[0], on_execute[2]]
    stored = await store.read_stream(stream_id)
    assert [event.type for event in stored] == ["Opened", "MoneyDeposited"]
    assert stored[1].data == {"amount": 25}
    assert stored[1].metadata == {"schema_version": 2}
    assert registry.event(stored[1]) == on_load[1]


async def test_old_shapes_are_upcast_and_unknown_types_read_as_generic_events(store: AsyncEventStore) -> None:
    seen: list[Event] = []
    stream_id = account()
    await store.append(
        stream_id,
        [
            NewEvent("Opened", {"owner": "bob"}),
            NewEvent("MoneyDeposited", {"cents": 7}),  # shape 1: no schema_version
            NewEvent("Frozen", {"reason": "audit"}),
        ],
    )
    loaded = await AsyncRepository(store, make_accounts(seen)).load(stream_id)
    assert loaded.state == Account("bob", 7)
    assert [event.data for event in seen] == [Opened("bob"), Deposited(7), {"reason": "audit"}]
    frozen = (await store.read_stream(stream_id))[2]
    assert registry.event(frozen).data == {"reason": "audit"}
    assert registry.class_of("Frozen") is None


async def test_a_reducer_raising_during_execute_stores_nothing(store: AsyncEventStore) -> None:
    repo = AsyncRepository(store, make_accounts([]), snapshot_every=1)
    stream_id = account()
    await repo.execute(stream_id, "open_account", "cy")
    with pytest.raises(RuntimeError, match="a reducer that fails"):
        await repo.execute(stream_id, "withdraw", 5000)
    assert await store.stream_version(stream_id) == 0
    snapshot = await store.load_snapshot(stream_id)
    assert snapshot is not None
    assert snapshot.version == 0
    after = await repo.execute(stream_id, "withdraw", 5)
    assert (after.version, after.state.balance) == (1, -5)


async def test_events_need_a_registered_class(store: AsyncEventStore) -> None:
    assert registry.new_event(Deposited(3)) == NewEvent("MoneyDeposited", Deposited(3), {"schema_version": 2})
    with pytest.raises(ValueError, match="not a registered event class"):
        registry.new_event(Account())
    with pytest.raises(ValueError, match="already registered"):
        registry.register("Opened")(Account)
    stream_id = account()
    with pytest.raises(ValueError, match="not a registered event class"):
        await AsyncRepository(store, make_accounts([])).execute(stream_id, "unregistered")
    assert await store.stream_version(stream_id) == -1


async def test_event_ids_derive_from_the_command_id(store: AsyncEventStore) -> None:
    repo = AsyncRepository(store, make_accounts([]))
    stream_id = account()
    command = uuid.uuid4()
    await repo.execute(stream_id, "open_account", "di", command_id=command)
    await repo.execute(stream_id, "deposit", 1)
    stored = await store.read_stream(stream_id)
    assert stored[0].id == event_id(command, 0) == uuid.uuid5(command, "0")
    assert stored[1].id not in (event_id(command, 0), event_id(command, 1))


async def test_a_command_sent_again_after_other_commands_appends_nothing(store: AsyncEventStore) -> None:
    repo = AsyncRepository(store, make_accounts([]))
    stream_id = account()
    await repo.execute(stream_id, "open_account", "fay")
    deposit = uuid.uuid4()
    await repo.execute(stream_id, "deposit", 70, command_id=deposit)
    await repo.execute(stream_id, "deposit", 5)
    again = await repo.execute(stream_id, "deposit", 70, command_id=deposit)
    assert (again.version, again.state.balance) == (2, 75)
    assert await store.stream_version(stream_id) == 2
    # A new command id is a new deposit.
    assert (await repo.execute(stream_id, "deposit", 70)).state.balance == 145


@pytest.mark.parametrize("lose", ["commit", "answer"])
async def test_a_command_whose_commit_was_lost_takes_effect_once(dsn: str, lose: str) -> None:
    """The connection fails at COMMIT, before it reached the server or after it committed."""
    stream_id = account()
    with commit_proxy(dsn) as proxy:
        async with AsyncEventStore(proxy.dsn) as store:
            repo = AsyncRepository(store, make_accounts([]), retry=RetryPolicy(attempts=3))
            await repo.execute(stream_id, "open_account", "eve")
            await repo.execute(stream_id, "deposit", 100)
            proxy.arm(lose)
            after = await repo.execute(stream_id, "deposit", 50)
            assert proxy.lost.is_set()
            assert (after.version, after.state.balance) == (2, 150)
    async with AsyncEventStore(dsn) as direct:
        loaded = await AsyncRepository(direct, make_accounts([])).load(stream_id)
        assert (loaded.version, loaded.state.balance) == (2, 150)


async def test_a_lost_connection_inside_the_callers_transaction_is_not_retried(dsn: str) -> None:
    stream_id = account()
    with commit_proxy(dsn) as proxy:
        async with await psycopg.AsyncConnection.connect(proxy.dsn, autocommit=True) as conn:
            store = AsyncEventStore(conn)
            repo = AsyncRepository(store, make_accounts([]))
            await repo.execute(stream_id, "open_account", "fay")
            proxy.arm("commit")
            with pytest.raises(psycopg.OperationalError):
                await repo.execute(stream_id, "deposit", 5, conn=conn)
    async with AsyncEventStore(dsn) as direct:
        assert await direct.stream_version(stream_id) == 0
