"""A sharded store: a router database and two shards, routed by PL/Proxy.

The router runs the store's API against the shards: the store tests that hold for a
sharded store run through it unchanged, errors reach the caller as the shard raised them,
and what sharding changes (atomicity per call, event ids unique per shard, positions in
per-shard ranges, the log per shard read through a merged cursor, per-shard functions
refused on the router) is shown here.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner
from psycopg import sql
from psycopg.rows import TupleRow

import test_aggregate
import test_store
import test_store_async
from pgeventstore import (
    AsyncEventStore,
    EventStore,
    InvalidArgument,
    LogDiverged,
    NewEvent,
    NotOnRouter,
    RecordedEvent,
    Subscription,
    schema,
    shard,
)
from pgeventstore.cli import main
from pgeventstore.cluster import Cluster, temporary_cluster

PARTITIONS = 8


@dataclass(frozen=True)
class Sharded:
    """A router and its shards, each DSN usable by the tests and by the router's server."""

    router: str
    shards: list[str]


def _create(cluster: Cluster, template: str | None = None) -> str:
    name = f"db_{uuid.uuid4().hex[:12]}"
    query = sql.SQL("create database {}").format(sql.Identifier(name))
    if template is not None:
        query += sql.SQL(" template {}").format(sql.Identifier(template))
    with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
        conn.execute(query)
    return name


def _install_routing(conn: psycopg.Connection[TupleRow]) -> None:
    for path in shard.router_files():
        conn.execute(sql.SQL(path.read_text(encoding="utf-8")))


@pytest.fixture(scope="module")
def cluster() -> Iterator[tuple[Cluster, str, str]]:
    """A cluster holding a store template and a router template (routing, no shards yet)."""
    with temporary_cluster() as c:
        store_template = _create(c)
        schema.migrate(c.dsn(store_template))
        router_template = _create(c)
        schema.migrate(c.dsn(router_template), then=_install_routing)
        yield c, store_template, router_template


@pytest.fixture
def sharded(cluster: tuple[Cluster, str, str]) -> Iterator[Sharded]:
    """A fresh router with two fresh shards, PARTITIONS partitions; dropped afterwards.

    Copies of the installed templates, configured as ``shard.init`` would (which
    test_cli_init_and_the_dba_scripts_build_the_same_router runs), without installing
    everything again for every test.
    """
    c, store_template, router_template = cluster
    names = [_create(c, store_template) for _ in range(2)]
    shards = [c.dsn_for_server_of(c, name) for name in names]
    for number, dsn in enumerate(shards):
        one(dsn, "select eventstore.make_shard(%s)", (number,))
    router_name = _create(c, router_template)
    router = c.dsn(router_name)
    one(router, "select eventstore_router.configure(%s, %s)", (shards, PARTITIONS))
    yield Sharded(router, shards)
    with psycopg.connect(c.dsn(), autocommit=True) as conn:
        for name in [router_name, *names]:
            conn.execute(sql.SQL("drop database {} with (force)").format(sql.Identifier(name)))


@pytest.fixture
def store(sharded: Sharded) -> Iterator[EventStore]:
    with EventStore(sharded.router) as s:
        yield s


def one(dsn: str, query: str, params: tuple[Any, ...] = ()) -> Any:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(query, params).fetchone()
        return row[0] if row else None


def shard_of(sharded: Sharded, stream_id: str) -> int:
    number: int = one(sharded.router, "select eventstore_router.shard_of(%s)", (stream_id,))
    return number


def streams_on(sharded: Sharded, number: int, count: int, prefix: str = "s") -> list[str]:
    """``count`` stream ids that live on shard ``number``."""
    found: list[str] = []
    n = 0
    while len(found) < count:
        candidate = f"{prefix}-{n}"
        if shard_of(sharded, candidate) == number:
            found.append(candidate)
        n += 1
    return found


#: The store tests whose contract holds for a sharded store as it is, run through the router.
ROUTED_STORE_TESTS: list[Callable[[EventStore], None]] = [
    test_store.test_append_and_read,
    test_store.test_read_options,
    test_store.test_expected_version_spellings,
    test_store.test_wrong_expected_version_carries_versions,
    test_store.test_retry_with_ids_is_idempotent,
    test_store.test_invalid_argument_and_not_found,
    test_store.test_snapshots_and_load_stream,
    test_store.test_list_streams_and_stats,
    test_store.test_iter_stream_pages_through_10000_events,
]


#: The aggregate tests that hold through a router. Left out: those that need one transaction
#: across calls (the snapshot in the append's transaction, joining the caller's), and
#: test_reducers_see_the_whole_upcast_event: execute folds the events with the
#: ``recorded_at`` of the caller's transaction (``now()`` on the router), which is not the
#: shard's (docs/scaling.md).
ROUTED_AGGREGATE_TESTS: list[Callable[[EventStore], None]] = [
    test_aggregate.test_execute_takes_a_registered_handler_or_its_name,
    test_aggregate.test_a_custom_state_serializer_stores_and_restores_snapshots,
    test_aggregate.test_execute_appends_and_load_rebuilds,
    test_aggregate.test_domain_error_stores_nothing,
    test_aggregate.test_a_handler_deciding_nothing_appends_nothing,
    test_aggregate.test_snapshot_every_n_events,
    test_aggregate.test_a_batch_crossing_the_threshold_snapshots_at_its_end,
    test_aggregate.test_a_snapshot_of_another_state_version_is_ignored,
    test_aggregate.test_upcasters_apply_to_old_events_and_never_rewrite_them,
    test_aggregate.test_command_context_ids_reach_event_metadata,
    test_aggregate.test_retry_after_a_concurrent_append_then_give_up_when_bounded,
]


@pytest.mark.parametrize("case", ROUTED_STORE_TESTS + ROUTED_AGGREGATE_TESTS, ids=lambda case: case.__name__)
def test_store_api_through_the_router(case: Callable[[EventStore], None], store: EventStore) -> None:
    case(store)


#: The asynchronous store's tests that hold through a router (concurrent appends included).
ROUTED_ASYNC_STORE_TESTS: list[Callable[[AsyncEventStore], Awaitable[None]]] = [
    test_store_async.test_append_read_and_versions,
    test_store_async.test_snapshots_and_load_stream,
    test_store_async.test_list_streams_and_stats,
    test_store_async.test_concurrent_appends_one_wins,
]


@pytest.mark.asyncio
@pytest.mark.parametrize("case", ROUTED_ASYNC_STORE_TESTS, ids=lambda case: case.__name__)
async def test_async_store_api_through_the_router(
    case: Callable[[AsyncEventStore], Awaitable[None]], sharded: Sharded
) -> None:
    async with AsyncEventStore(sharded.router) as store:
        await case(store)


def _error(dsn: str, query: str, params: tuple[Any, ...]) -> tuple[str | None, ...]:
    with psycopg.connect(dsn, autocommit=True) as conn, pytest.raises(psycopg.Error) as caught:
        conn.execute(query, params)
    diag = caught.value.diag
    return diag.sqlstate, diag.message_primary, diag.message_detail, diag.message_hint


@pytest.mark.parametrize(
    ("sqlstate", "query"),
    [
        ("ES409", "select * from eventstore.append_event(%s, -1, 'A', '{}')"),
        ("ES400", "select * from eventstore.read_stream(%s, 0, 0)"),
        ("ES412", "select * from eventstore.append_event(%s || '-other', null, 'A', '{}', null, %s)"),
        ("ES404", "select eventstore.save_snapshot(%s || '-absent', 0, '{}')"),
    ],
)
def test_errors_reach_the_caller_as_the_shard_raised_them(
    sharded: Sharded, sqlstate: str, query: str
) -> None:
    # For ES412 the other stream must live on the same shard: event ids are unique per shard.
    stream = next(
        s
        for s in (f"x-{n}" for n in range(1000))
        if shard_of(sharded, s) == shard_of(sharded, s + "-other") == shard_of(sharded, s + "-absent")
    )
    event_id = uuid.uuid4()
    one(
        sharded.router,
        "select stream_version from eventstore.append_event(%s, -1, 'A', '{}', null, %s)",
        (stream, event_id),
    )
    params = (stream, event_id) if sqlstate == "ES412" else (stream,)
    on_router = _error(sharded.router, query, params)
    directly = _error(sharded.shards[shard_of(sharded, stream)], query, params)
    assert on_router == directly
    assert on_router[0] == sqlstate
    assert on_router[3] and not on_router[3].startswith("Remote")
    assert "REMOTE" not in (on_router[1] or "")


def test_the_roles_call_the_router_as_they_call_a_store(sharded: Sharded) -> None:
    with psycopg.connect(sharded.router, autocommit=True) as conn:
        conn.execute("set role eventstore_writer")
        conn.execute("select eventstore.append_event('roles-1', -1, 'A', '{}')")
        conn.execute("set role eventstore_reader")
        assert conn.execute("select count(*) from eventstore.read_shards(array[]::bigint[])").fetchone() == (
            1,
        )
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("select eventstore.append_event('roles-2', -1, 'A', '{}')")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("select eventstore_router.configure(array['x'], 8)")


def test_streams_spread_over_the_shards_in_disjoint_position_ranges(
    sharded: Sharded, store: EventStore
) -> None:
    results = {f"spread-{n}": store.append(f"spread-{n}", [NewEvent("A", {})]) for n in range(32)}
    for stream, result in results.items():
        number = shard_of(sharded, stream)
        assert result.first_position >> 48 == number
        assert one(sharded.shards[number], "select eventstore.stream_version(%s)", (stream,)) == 0
        assert one(sharded.shards[1 - number], "select eventstore.stream_version(%s)", (stream,)) == -1
    assert {shard_of(sharded, s) for s in results} == {0, 1}
    assert one(sharded.router, "select count(*) from eventstore.events") == 0


def test_each_call_commits_on_its_shard_on_its_own(sharded: Sharded) -> None:
    with psycopg.connect(sharded.router) as conn:
        conn.execute("select eventstore.append_event('atomic-1', -1, 'A', '{}')")
        conn.execute("select eventstore.append_event('atomic-2', -1, 'A', '{}')")
        conn.rollback()
    assert one(sharded.router, "select eventstore.stream_version('atomic-1')") == 0
    assert one(sharded.router, "select eventstore.stream_version('atomic-2')") == 0


def test_event_ids_are_unique_per_shard_only(sharded: Sharded, store: EventStore) -> None:
    here, there = streams_on(sharded, 0, 1, "ids")[0], streams_on(sharded, 1, 1, "ids")[0]
    event_id = uuid.uuid4()
    store.append(here, [NewEvent("A", {}, id=event_id)])
    store.append(there, [NewEvent("A", {}, id=event_id)])
    assert store.read_stream(here)[0].id == store.read_stream(there)[0].id == event_id


def _page(dsn: str, after: list[int], limit: int) -> list[tuple[int, int, str, int]]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(
            "select shard, log_number, stream_id, version from eventstore.read_shards(%s, %s)", (after, limit)
        ).fetchall()
    return [tuple(row) for row in rows]


def test_read_shards_merges_the_shards_logs_through_a_cursor(sharded: Sharded, store: EventStore) -> None:
    for n in range(12):
        store.append(f"log-{n}", [NewEvent("A", {"i": i}) for i in range(n % 3 + 1)])
    per_shard = [
        [
            (number, row[0], row[1], row[2])
            for row in psycopg.connect(dsn, autocommit=True)
            .execute("select log_number, stream_id, version from eventstore.read_all(0, 1000)")
            .fetchall()
        ]
        for number, dsn in enumerate(sharded.shards)
    ]
    assert all(per_shard)
    cursor = [0, 0]
    merged: list[tuple[int, int, str, int]] = []
    while page := _page(sharded.router, cursor, 5):
        assert page == sorted(page, key=lambda row: (row[1], row[0]))
        merged += page
        for number, log_number, _, _ in page:
            cursor[number] = log_number
    assert sorted(merged) == sorted(per_shard[0] + per_shard[1])
    for number in (0, 1):
        assert [row for row in merged if row[0] == number] == per_shard[number]
    with pytest.raises(psycopg.Error) as caught:
        _page(sharded.router, [0, 0, 0], 5)
    assert caught.value.sqlstate == "ES400"
    wrong = uuid.uuid4()
    with psycopg.connect(sharded.router, autocommit=True) as conn, pytest.raises(psycopg.Error) as diverged:
        conn.execute(
            "select * from eventstore.read_shards(array[1, 1], 5, null, null, array[%s, null]::uuid[])",
            (wrong,),
        )
    assert diverged.value.sqlstate == "ES419"
    assert "REMOTE" not in (diverged.value.diag.message_primary or "")


def test_python_reads_the_shards_logs_page_by_page(sharded: Sharded, store: EventStore) -> None:
    for n in range(10):
        store.append(f"py-{n}", [NewEvent("A", {"i": i}) for i in range(n % 2 + 1)])
    whole = _page(sharded.router, [], 1000)
    cursor = shard.ShardCursor()
    read: list[tuple[int, int, str, int]] = []
    while (page := store.run(shard.read_shards(store.calls.codec, cursor, 4))).events:
        read += [(number, e.log_number or 0, e.stream_id, e.version) for number, e in page.events]
        cursor = page.cursor
    assert read == whole
    heads = tuple(one(dsn, "select eventstore.log_head()") for dsn in sharded.shards)
    assert cursor.log_numbers == heads
    assert store.run(shard.read_shards(store.calls.codec, cursor)).events == ()
    moved = shard.ShardCursor(cursor.log_numbers, (uuid.uuid4(), cursor.event_ids[1]))
    with pytest.raises(LogDiverged):
        store.run(shard.read_shards(store.calls.codec, moved))


def test_one_subscription_per_shard_sees_every_event_once(sharded: Sharded, store: EventStore) -> None:
    appended = {store.append(f"sub-{n}", [NewEvent("A", {"n": n})]).first_position for n in range(12)}
    seen: list[RecordedEvent] = []
    for dsn in sharded.shards:
        assert Subscription(dsn, "per-shard", seen.append, listen=False).catch_up() > 0
    assert sorted(e.global_position for e in seen) == sorted(appended)
    with pytest.raises(NotOnRouter):
        Subscription(sharded.router, "on-router", seen.append, listen=False).catch_up()


def test_list_streams_pages_across_shards(sharded: Sharded, store: EventStore) -> None:
    names = [f"page-{n}" for n in range(9)]
    for name in names:
        store.append(name, [NewEvent("A", {})])
    listed = [s.stream_id for s in store.iter_streams(page_size=2)]
    assert sorted(listed) == sorted(names)
    assert listed == list(reversed(names))


def test_per_shard_functions_are_refused_on_the_router(sharded: Sharded, store: EventStore) -> None:
    with pytest.raises(NotOnRouter) as caught:
        store.log_head()
    assert caught.value.hint and "each shard" in caught.value.hint
    with pytest.raises(NotOnRouter):
        list(store.read_all())
    with psycopg.connect(sharded.router, autocommit=True) as conn, pytest.raises(psycopg.Error) as local:
        conn.execute(
            "insert into eventstore.events (stream_id, version, event_id, event_type, data) "
            "values ('local-1', 0, gen_random_uuid(), 'A', '{}')"
        )
    assert local.value.sqlstate == "ES501"
    result = CliRunner().invoke(main, ["--dsn", sharded.router, "subscriptions"])
    assert result.exit_code == 15, result.output


def test_migrate_alone_cannot_unroute_a_router(sharded: Sharded, store: EventStore) -> None:
    store.append("kept-1", [NewEvent("A", {})])
    with pytest.raises(NotOnRouter):
        schema.migrate(sharded.router)
    assert store.stream_version("kept-1") == 0
    assert shard.init(sharded.router, sharded.shards, PARTITIONS) == []
    assert store.stream_version("kept-1") == 0


def test_configuration_refusals(sharded: Sharded) -> None:
    for shards, partitions in [(sharded.shards, 6), (sharded.shards[:1], PARTITIONS), (sharded.shards, 16)]:
        with pytest.raises(InvalidArgument):
            shard.init(sharded.router, shards, partitions)
    assert shard.init(sharded.router, sharded.shards, PARTITIONS) == []


def test_an_added_shard_takes_the_partitions_assigned_to_it(
    cluster: tuple[Cluster, str, str], sharded: Sharded, store: EventStore
) -> None:
    c, store_template, _ = cluster
    third = c.dsn_for_server_of(c, _create(c, store_template))
    one(third, "select eventstore.make_shard(2)")
    one(sharded.router, "select eventstore_router.configure(%s, %s)", ([*sharded.shards, third], PARTITIONS))
    stream = streams_on(sharded, 0, 1, "moved")[0]
    partition = one(sharded.router, "select eventstore_router.partition_of(%s)", (stream,))
    assert store.append(stream, [NewEvent("A", {})]).first_position >> 48 == 0
    one(sharded.router, "select eventstore_router.assign_partition(%s, 2)", (partition,))
    assert shard_of(sharded, stream) == 2
    # The move copies nothing: the stream starts afresh on shard 2 (docs/scaling.md copies it first).
    assert store.stream_version(stream) == -1
    assert store.append(stream, [NewEvent("A", {})]).first_position >> 48 == 2
    assert one(third, "select eventstore.stream_version(%s)", (stream,)) == 0
    for bad in (
        "select eventstore_router.assign_partition(%s, 3)",
        "select eventstore_router.assign_partition(%s + 1000, 0)",
    ):
        with psycopg.connect(sharded.router, autocommit=True) as conn, pytest.raises(psycopg.Error) as caught:
            conn.execute(bad, (partition,))
        assert caught.value.sqlstate == "ES400"


def test_a_store_with_events_can_only_be_shard_zero(sharded: Sharded, store: EventStore) -> None:
    store.append(streams_on(sharded, 0, 1)[0], [NewEvent("A", {})])
    with psycopg.connect(sharded.shards[0], autocommit=True) as conn, pytest.raises(psycopg.Error) as caught:
        conn.execute("select eventstore.make_shard(1)")
    assert caught.value.sqlstate == "ES400"


def test_cli_init_and_the_dba_scripts_build_the_same_router(cluster: tuple[Cluster, str, str]) -> None:
    c, _, _ = cluster
    shards = [c.dsn_for_server_of(c, _create(c)) for _ in range(2)]
    by_cli, by_script = c.dsn(_create(c)), c.dsn(_create(c))
    result = CliRunner().invoke(
        main,
        [
            "--dsn",
            by_cli,
            "shard",
            "init",
            "--partitions",
            "4",
            *[arg for s in shards for arg in ("--shard", s)],
        ],
    )
    assert result.exit_code == 0, result.output
    script = CliRunner().invoke(main, ["shard", "router-sql", "--partitions", "4", *shards])
    assert script.exit_code == 0, script.output
    with psycopg.connect(by_script, autocommit=True) as conn:
        conn.execute(sql.SQL(script.output))
    shard_script = CliRunner().invoke(main, ["shard", "shard-sql", "1"]).output
    assert "select eventstore.make_shard(1::integer);" in shard_script
    with EventStore(by_cli) as store:
        store.append("cli-1", [NewEvent("A", {})])
    with EventStore(by_script) as store:
        assert store.stream_version("cli-1") == 0
        store.append("cli-1", [NewEvent("B", {})], 0)
        assert store.stats().events == 2
