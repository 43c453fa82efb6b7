"""Personal data (issue 19): subjects' fields encrypted, forgotten, events redacted.

The single-session SQL rules are in pgtap_tests/86_personal_data.sql and 87_redaction.sql;
here: the Python API, rebuilding a projection and an aggregate after forgetting, readers
running while a subject is forgotten and events are redacted, the command line, and an
install into a database that has pgcrypto in public already.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import decimal
import json
import threading
import time
import uuid
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner

from pgeventstore import (
    REDACTED,
    AsyncEventStore,
    EncryptionUnavailable,
    EventRegistry,
    EventStore,
    InvalidArgument,
    NewEvent,
    RecordedEvent,
    SubjectForgotten,
    is_redacted,
    schema,
)
from pgeventstore.aggregate import AggregateType, Event, Repository
from pgeventstore.cli import main
from pgeventstore.subscription import Projection, Subscription


def test_new_event_marks_the_subject_in_its_metadata() -> None:
    event = NewEvent(
        "Registered", {"email": "a@example.com"}, {"trace": 1}, subject="c-1", personal=["email"]
    )
    assert event.metadata == {"trace": 1, "$subject": "c-1", "$personal": ["email"]}
    nested = NewEvent("Moved", {"address": {"street": "x"}}, subject="c-1", personal=[("address", "street")])
    assert nested.metadata == {"$subject": "c-1", "$personal": [["address", "street"]]}
    assert NewEvent("Noted", "text", subject="c-1").metadata == {"$subject": "c-1"}
    assert NewEvent("Plain", {}).metadata is None
    assert is_redacted({"$redacted": True}) and not is_redacted({"$redacted": True, "x": 1})
    assert not is_redacted("[redacted]")


def test_personal_fields_round_trip_and_are_forgotten(dsn: str) -> None:
    with EventStore(dsn) as store:
        store.append(
            "customer-1",
            [
                NewEvent("Registered", {"name": "Ada", "plan": "gold"}, subject="c-1", personal="name"),
                NewEvent("Noted", ["whole", "data"], subject="c-1"),
            ],
        )
        read = store.read_stream("customer-1")
        assert [e.data for e in read] == [{"name": "Ada", "plan": "gold"}, ["whole", "data"]]
        assert read[0].subject == "c-1"
        assert next(iter(store.read_all())).data == {"name": "Ada", "plan": "gold"}

        result = store.forget_subject("c-1")
        assert (result.subject, result.events, result.snapshots_deleted) == ("c-1", 2, 0)
        assert store.forget_subject("c-1").forgotten_at == result.forgotten_at
        assert [e.data for e in store.read_stream("customer-1")] == [
            {"name": REDACTED, "plan": "gold"},
            REDACTED,
        ]
        assert [e.data for e in store.load_stream("customer-1").events][1] == REDACTED
        with pytest.raises(SubjectForgotten) as forgotten:
            store.append("customer-1", [NewEvent("Back", {"name": "Ada"}, subject="c-1", personal=["name"])])
        assert forgotten.value.subject == "c-1"
        with pytest.raises(InvalidArgument, match=r'"\$subject" must be a non-empty string'):
            store.append("customer-1", [NewEvent("Bad", {"name": "x"}, {"$personal": ["name"]})])

        redaction = store.redact_event(read[0].id, "test", metadata=True)
        assert (redaction.event_id, redaction.redacted_data, redaction.redacted_metadata) == (
            read[0].id,
            True,
            True,
        )
        after = store.read_stream("customer-1")[0]
        assert (after.id, after.version, after.data) == (read[0].id, 0, REDACTED)
        assert after.metadata == {"$redacted": True, "$subject": "c-1", "$personal": ["name"]}


def test_async_store_forgets_and_redacts(dsn: str) -> None:
    async def run() -> tuple[Any, Any]:
        async with AsyncEventStore(dsn) as store:
            await store.append(
                "a-1", [NewEvent("E", {"email": "x@example.com"}, subject="s-1", personal=["email"])]
            )
            event = (await store.read_stream("a-1"))[0]
            assert event.data == {"email": "x@example.com"}
            await store.forget_subject("s-1")
            redaction = await store.redact_event(event.id, "async test", data=False, metadata=True)
            return (await store.read_stream("a-1"))[0], redaction

    event, redaction = asyncio.run(run())
    assert event.data == {"email": REDACTED}
    assert (redaction.redacted_data, redaction.reason) == (False, "async test")


registry = EventRegistry()


@registry.register()
@dataclasses.dataclass(frozen=True)
class Paid:
    payer: str
    amount: decimal.Decimal
    at: datetime.datetime


def test_typed_events_decode_the_marker_as_the_marker(dsn: str) -> None:
    """A registered class's personal fields, and its data redacted as a whole, decode as the marker."""
    paid = Paid("Ada", decimal.Decimal("3.10"), datetime.datetime(2026, 1, 3, tzinfo=datetime.UTC))
    with EventStore(dsn) as store:
        marking = {"$subject": "payer-1", "$personal": ["payer", "at"]}
        store.append("pay-1", [registry.new_event(paid, metadata=marking), registry.new_event(paid)])
        stored = store.read_stream("pay-1")
        assert [registry.event(e).data for e in stored] == [paid, paid]
        store.forget_subject("payer-1")
        store.redact_event(stored[1].id, "test")
        decoded = [registry.event(e).data for e in store.read_stream("pay-1")]
    assert decoded == [Paid(REDACTED, decimal.Decimal("3.10"), REDACTED), REDACTED]


@dataclasses.dataclass(frozen=True)
class Customer:
    name: Any = None
    email: Any = None
    plan: str = "none"
    orders: int = 0


def customer_type() -> AggregateType[Customer]:
    customers = AggregateType("customer", Customer(), snapshot_every=2)

    @customers.reducer("Registered")
    def registered(state: Customer, event: Event) -> Customer:
        return dataclasses.replace(
            state, name=event.data["name"], email=event.data["email"], plan=event.data["plan"]
        )

    @customers.reducer("Ordered")
    def ordered(state: Customer, event: Event) -> Customer:
        return dataclasses.replace(state, orders=state.orders + 1)

    @customers.handler
    def register(state: Customer, subject: str, name: str, email: str) -> list[NewEvent]:
        data = {"name": name, "email": email, "plan": "gold"}
        return [NewEvent("Registered", data, subject=subject, personal=["name", "email"])]

    @customers.handler
    def order(state: Customer) -> list[NewEvent]:
        return [NewEvent("Ordered", {"items": 1})]

    return customers


def test_a_projection_and_a_repository_rebuilt_after_forgetting_hold_no_trace(dsn: str) -> None:
    """A subject's data leaves every rebuilt read model and aggregate; other data stays as it was."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "create table customer_view (stream_id text primary key, name text, email text, plan text)"
        )

    def apply(conn: psycopg.Connection[Any], event: RecordedEvent) -> None:
        if event.type == "Registered":
            conn.execute(
                "insert into customer_view values (%s, %s, %s, %s)",
                (
                    event.stream_id,
                    json.dumps(event.data["name"]),
                    json.dumps(event.data["email"]),
                    event.data["plan"],
                ),
            )

    def reset(conn: psycopg.Connection[Any]) -> None:
        conn.execute("truncate customer_view")

    def view(conn: psycopg.Connection[Any]) -> dict[str, tuple[Any, ...]]:
        return {row[0]: row[1:] for row in conn.execute("select * from customer_view")}

    with EventStore(dsn) as store:
        repository = Repository(store, customer_type())
        repository.execute("customer-1", "register", "c-1", "Ada Lovelace", "ada@example.com")
        repository.execute("customer-2", "register", "c-2", "Grace Hopper", "grace@example.com")
        for stream in ("customer-1", "customer-2", "customer-1"):
            repository.execute(stream, "order")
        store.append("audit-1", [NewEvent("Audited", {"note": "plain"})])
        projection = Projection(store, "customers", apply, reset=reset)
        projection.catch_up()
        others_before = [(e.log_number, e.data, e.metadata) for e in store.read_all() if e.subject != "c-1"]
        assert store.load_snapshot("customer-1") is not None

        assert store.forget_subject("c-1").snapshots_deleted == 1
        projection.rebuild()
        rebuilt = Repository(store, customer_type()).load("customer-1").state
        with psycopg.connect(dsn) as conn:
            rows = view(conn)
            everything = conn.execute(
                "select string_agg(t::text, ' ') from (select * from customer_view) t"
            ).fetchone()
            snapshots = conn.execute(
                "select string_agg(state::text, ' ') from eventstore.snapshots"
            ).fetchone()

        assert rebuilt == Customer(name=REDACTED, email=REDACTED, plan="gold", orders=2)
        assert rows["customer-1"] == (json.dumps(dict(REDACTED)), json.dumps(dict(REDACTED)), "gold")
        assert rows["customer-2"] == ('"Grace Hopper"', '"grace@example.com"', "gold")
        for trace in ("Ada", "Lovelace", "ada@example.com"):
            assert everything is not None and trace not in str(everything[0])
            assert trace not in str(snapshots[0] if snapshots else "")
            assert trace not in repr(rebuilt)
            assert all(trace not in json.dumps(e.data) for e in store.read_all())
        assert [
            (e.log_number, e.data, e.metadata) for e in store.read_all() if e.subject != "c-1"
        ] == others_before
        assert Repository(store, customer_type()).load("customer-2").state.name == "Grace Hopper"


def test_readers_running_through_a_forget_and_redactions_neither_fail_nor_skip(dsn: str) -> None:
    """A live Subscription and a live Projection get every log number once, each event
    decrypted or as the marker, never ciphertext, while a subject is forgotten and events
    are redacted between the appends."""
    total = 120
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("create table seen (log_number bigint primary key, data jsonb)")
    delivered: list[RecordedEvent] = []

    def project(conn: psycopg.Connection[Any], event: RecordedEvent) -> None:
        conn.execute("insert into seen values (%s, %s)", (event.log_number, json.dumps(event.data)))

    with EventStore(dsn) as store:
        subscription = Subscription(store, "watcher", delivered.append, batch_size=7, poll_interval=0.05)
        projection = Projection(store, "seen", project, batch_size=5, poll_interval=0.05)
        threads = [threading.Thread(target=follower.run) for follower in (subscription, projection)]
        for thread in threads:
            thread.start()
        refused = 0
        try:
            for n in range(total):
                subject, event_id = f"s-{n % 3}", uuid.uuid4()
                try:
                    store.append(
                        f"person-{n % 5}",
                        [
                            NewEvent(
                                "Said",
                                {"text": f"secret {n}", "n": n},
                                id=event_id,
                                subject=subject,
                                personal=["text"],
                            )
                        ],
                    )
                except SubjectForgotten:
                    refused += 1
                    store.append(f"person-{n % 5}", [NewEvent("Said", {"n": n}, id=event_id)])
                if n == total // 3:
                    store.forget_subject("s-0")
                if n % 10 == 9:
                    store.redact_event(event_id, f"redaction {n}")
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                with psycopg.connect(dsn) as conn:
                    projected = conn.execute("select count(*) from seen").fetchone()
                if len(delivered) >= total and projected is not None and projected[0] >= total:
                    break
                time.sleep(0.05)
        finally:
            subscription.stop()
            projection.stop()
            for thread in threads:
                thread.join(timeout=30)
        assert not any(thread.is_alive() for thread in threads)
        assert refused > 0
        assert [e.log_number for e in delivered] == list(range(1, total + 1))
        with psycopg.connect(dsn) as conn:
            rows = conn.execute("select log_number, data::text from seen order by log_number").fetchall()
        assert [row[0] for row in rows] == list(range(1, total + 1))
        for text in [json.dumps(e.data) for e in delivered] + [row[1] for row in rows]:
            assert "$ciphertext" not in text
        # Later readers see what is stored now: no s-0 secret, and the redacted events' markers.
        now = list(store.read_all())
        assert all(e.data.get("text") != f"secret {e.data.get('n')}" for e in now if e.subject == "s-0")
        assert sum(1 for e in now if is_redacted(e.data)) == total // 10
        assert any(e.subject == "s-1" and e.data["text"].startswith("secret") for e in now)


def test_first_appends_of_one_subject_racing_share_one_key(dsn: str) -> None:
    writers = 8
    start = threading.Barrier(writers)
    failures: list[BaseException] = []

    def write(n: int) -> None:
        try:
            with psycopg.connect(dsn, autocommit=True) as conn:
                start.wait()
                conn.execute(
                    "select eventstore.append_event(%s, -1, 'Joined', %s, %s)",
                    (f"race-{n}", json.dumps({"name": f"name {n}"}), '{"$subject": "racer"}'),
                )
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    with EventStore(dsn) as store, psycopg.connect(dsn) as conn:
        assert conn.execute(
            "select count(*) from eventstore.subject_keys where subject = 'racer'"
        ).fetchone() == (1,)
        assert [store.read_stream(f"race-{n}")[0].data for n in range(writers)] == [
            {"name": f"name {n}"} for n in range(writers)
        ]


def test_the_commands_forget_and_redact(dsn: str) -> None:
    with EventStore(dsn) as store:
        store.append(
            "cli-1", [NewEvent("Registered", {"email": "e@example.com"}, subject="c-7", personal=["email"])]
        )
        event_id = store.read_stream("cli-1")[0].id
    runner = CliRunner()
    exported = runner.invoke(main, ["--dsn", dsn, "export"])
    assert exported.exit_code == 0 and '"email": "e@example.com"' in exported.output, exported.output
    forgot = runner.invoke(main, ["--dsn", dsn, "forget-subject", "c-7", "--json"])
    assert forgot.exit_code == 0, forgot.output
    assert json.loads(forgot.output)["events"] == 1
    again = runner.invoke(
        main, ["--dsn", dsn, "append", "cli-1", "X", "{}", "--metadata", '{"$subject": "c-7"}']
    )
    assert again.exit_code == 14, again.output
    assert "c-7 has been forgotten" in again.output
    redacted = runner.invoke(main, ["--dsn", dsn, "redact", str(event_id), "--reason", "test", "--metadata"])
    assert redacted.exit_code == 0, redacted.output
    assert f"redacted the data and metadata of event {event_id}" in redacted.output
    missing = runner.invoke(main, ["--dsn", dsn, "redact", str(uuid.uuid4()), "--reason", "test"])
    assert missing.exit_code == 4, missing.output
    with EventStore(dsn) as store:
        assert store.read_stream("cli-1")[0].data == REDACTED
    exported = runner.invoke(main, ["--dsn", dsn, "export"])
    assert exported.exit_code == 0, exported.output
    assert "e@example.com" not in exported.output and "$ciphertext" not in exported.output


def test_an_install_uses_pgcrypto_where_the_database_has_it(empty_dsn: str) -> None:
    """pgcrypto already in public: used there, bound when the functions are created, so a
    hostile search_path at a call changes nothing."""
    with psycopg.connect(empty_dsn, autocommit=True) as conn:
        conn.execute("create extension pgcrypto schema public")
    schema.migrate(empty_dsn)
    with psycopg.connect(empty_dsn, autocommit=True) as conn:
        assert conn.execute("select to_regnamespace('eventstore_crypto')").fetchone() == (None,)
        bound = conn.execute(
            "select p.pronamespace::regnamespace::text from pg_depend d join pg_proc p on p.oid = d.refobjid "
            "where d.objid = 'eventstore.encrypt_with_key(text, bytea)'::regprocedure "
            "and p.proname = 'pgp_sym_encrypt'"
        ).fetchall()
        assert bound == [("public",)]
        conn.execute(
            "create function public.encode(bytea, text) returns text language sql return 'evil'::text;"
            "create function public.decode(text, text) returns bytea language sql return '\\x00'::bytea;"
            "set search_path = public, pg_catalog"
        )
        conn.execute(
            "select eventstore.append_event('p-1', -1, 'E', '{\"email\": \"e@example.com\"}', "
            '\'{"$subject": "s-1", "$personal": ["email"]}\')'
        )
        assert conn.execute("select data from eventstore.read_stream('p-1')").fetchone() == (
            {"email": "e@example.com"},
        )
        # Migrating again (function files re-applied) keeps it there.
    schema.migrate(empty_dsn)
    with EventStore(empty_dsn) as store:
        assert store.read_stream("p-1")[0].data == {"email": "e@example.com"}


@pytest.mark.soak
def test_a_logical_subscriber_with_the_keys_reads_forgets_and_redacts_as_the_publisher() -> None:
    """The publication of docs/personal-data.md (docs/moving.md's plus the keys): the
    subscriber decrypts, applies a forget and a redaction. (A soak test: two clusters of
    its own take half a minute.)"""
    from cluster_support import clusters, connect, create_store, execute, wait_for

    with clusters() as made:
        publisher = made.primary("publisher")
        subscriber = made.primary("subscriber")
        source, copy = create_store(publisher, "shop"), create_store(subscriber, "shop")
        execute(
            source,
            "create publication eventstore for table eventstore.events, eventstore.log, "
            "eventstore.snapshots, eventstore.checkpoints, eventstore.subject_keys, "
            "eventstore.subject_streams",
        )
        execute(
            copy,
            f"create subscription eventstore connection '{publisher.dsn_for_server_of(subscriber, 'shop')}' "
            "publication eventstore",
        )
        with EventStore(source) as store:
            store.append(
                "c-1", [NewEvent("Joined", {"name": "Ada", "n": 1}, subject="s-1", personal=["name"])]
            )
            store.append(
                "c-2", [NewEvent("Joined", {"name": "Bob", "n": 2}, subject="s-2", personal=["name"])]
            )
            event_id = store.read_stream("c-2")[0].id

            def data_on_copy(stream: str) -> Any:
                with connect(copy) as conn:
                    row = conn.execute("select data from eventstore.read_stream(%s)", (stream,)).fetchone()
                return None if row is None else row[0]

            wait_for(lambda: data_on_copy("c-2") == {"name": "Bob", "n": 2}, "the copy to decrypt")
            store.forget_subject("s-1")
            wait_for(
                lambda: data_on_copy("c-1") == {"name": dict(REDACTED), "n": 1}, "the forget on the copy"
            )
            store.redact_event(event_id, "replicated redaction")
            wait_for(lambda: data_on_copy("c-2") == dict(REDACTED), "the redaction on the copy", timeout=20)


def test_without_pgcrypto_the_store_works_and_personal_data_is_es452(dsn: str) -> None:
    """A database without pgcrypto (here: dropped, its bound functions with it) gets the
    crypto functions raising ES452 from the next install; plain events work; once pgcrypto
    is created again, an install binds them to it."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("drop extension pgcrypto cascade")
    schema.migrate(dsn)
    with EventStore(dsn) as store:
        store.append("plain-1", [NewEvent("Plain", {"n": 1})])
        with pytest.raises(EncryptionUnavailable, match="needs the pgcrypto extension"):
            store.append("p-1", [NewEvent("Joined", {"name": "Ada"}, subject="s-1", personal=["name"])])
        assert [e.data for e in store.read_stream("plain-1")] == [{"n": 1}]
        result = CliRunner().invoke(
            main, ["--dsn", dsn, "append", "p-1", "X", "{}", "-m", '{"$subject": "s-1"}']
        )
        assert result.exit_code == 14, result.output
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("create extension pgcrypto schema public")
    schema.migrate(dsn)
    with EventStore(dsn) as store:
        store.append("p-1", [NewEvent("Joined", {"name": "Ada"}, subject="s-1", personal=["name"])])
        assert store.read_stream("p-1")[0].data == {"name": "Ada"}
