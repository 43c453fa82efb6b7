"""What the package tells about itself (issue 17): logging, OpenTelemetry spans, metrics.

Spans are collected by the OpenTelemetry SDK's in-memory exporter; the package without
``opentelemetry`` installed is run in a subprocess that cannot import it. The
postgres_exporter query file is run query by query against a real store whose numbers
are known, and mapped to metrics as the exporter maps columns (LABEL, GAUGE, COUNTER).
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import yaml
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from pgeventstore import AsyncEventStore, EventStore, NewEvent, Repository, Subscription
from pgeventstore.aggregate import AggregateType
from pgeventstore.observability import postgres_exporter_queries


@pytest.fixture(scope="module")
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    yield exporter
    # Later tests' spans go nowhere.
    provider.shutdown()


counters = AggregateType("counter", 0)


@counters.reducer("Added")
def added(state: int, event: Any) -> int:
    return state + int(event.data["n"])


@counters.handler
def add(state: int, n: int) -> list[NewEvent]:
    return [NewEvent("Added", {"n": n})]


def test_appends_reads_commands_and_deliveries_are_spans(dsn: str, spans: InMemorySpanExporter) -> None:
    spans.clear()
    with EventStore(dsn) as store:
        store.append("order-1", [NewEvent("Placed", {})])
        store.read_stream("order-1")
        command = uuid.uuid4()
        Repository(store, counters).execute("counter-1", "add", 5, command_id=command)

        def refuse(event: Any) -> None:
            if event.type == "Added":
                raise ValueError("refused")

        with pytest.raises(ValueError):
            Subscription(store, "tracing", refuse).catch_up()
    finished = spans.get_finished_spans()
    by_name: dict[str, list[Any]] = {}
    for span in finished:
        by_name.setdefault(span.name, []).append(span)
    append = by_name["eventstore.append_to_stream"][0]
    assert append.kind == SpanKind.CLIENT
    assert append.attributes["db.system.name"] == "postgresql"
    assert append.attributes["db.operation.name"] == "eventstore.append_to_stream"
    assert by_name["eventstore.read_stream"][0].attributes["db.response.returned_rows"] == 1
    (execute,) = by_name["pgeventstore.execute"]
    assert execute.attributes["pgeventstore.command_id"] == str(command)
    assert execute.attributes["pgeventstore.command"] == "add"
    children = {
        s.name for s in finished if s.parent is not None and s.parent.span_id == execute.context.span_id
    }
    assert {"eventstore.load_stream", "eventstore.append_to_stream"} <= children
    delivered = by_name["pgeventstore.deliver"]
    assert [(s.kind, s.attributes["pgeventstore.event_type"]) for s in delivered] == [
        (SpanKind.CONSUMER, "Placed"),
        (SpanKind.CONSUMER, "Added"),
    ]
    assert delivered[0].attributes["pgeventstore.log_number"] == 1
    assert delivered[0].attributes["pgeventstore.subscription"] == "tracing"
    assert delivered[0].status.status_code == StatusCode.UNSET
    assert delivered[1].status.status_code == StatusCode.ERROR
    assert delivered[1].events[0].name == "exception"


def test_the_asyncio_store_traces_its_calls_too(dsn: str, spans: InMemorySpanExporter) -> None:
    spans.clear()

    async def append() -> None:
        async with AsyncEventStore(dsn) as store:
            await store.append("cart-1", [NewEvent("Added", {})])

    asyncio.run(append())
    assert "eventstore.append_to_stream" in {s.name for s in spans.get_finished_spans()}


def test_without_opentelemetry_nothing_is_traced_and_everything_works(dsn: str) -> None:
    script = (
        "import os, sys\n"
        "sys.modules['opentelemetry'] = None  # import opentelemetry raises ImportError\n"
        "from pgeventstore import EventStore, NewEvent, observability\n"
        "assert observability._otel is None\n"
        "with EventStore(os.environ['DSN']) as store:\n"
        "    store.append('plain-1', [NewEvent('Happened', {})])\n"
        "    print(store.stream_version('plain-1'))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        env={"DSN": dsn, "PATH": ""},
        capture_output=True,
        text=True,
        check=False,
    )
    assert (done.returncode, done.stdout) == (0, "0\n"), done.stderr


def test_slow_calls_are_logged_above_the_threshold(dsn: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="pgeventstore.store")
    with EventStore(dsn, slow_call=0.0) as store:
        store.stream_version("order-1")
    with EventStore(dsn, slow_call=None) as store:
        store.stream_version("order-2")
    with EventStore(dsn) as store:  # 1 s by default
        store.stream_version("order-3")
    messages = [r.getMessage() for r in caplog.records if r.name == "pgeventstore.store"]
    assert len(messages) == 1 and messages[0].startswith("slow call: eventstore.stream_version took"), (
        messages
    )


def scrape(dsn: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The metrics postgres_exporter makes of the query file: {(name, labels): value}."""
    queries = yaml.safe_load(postgres_exporter_queries())
    metrics: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    with psycopg.connect(dsn, autocommit=True) as conn:
        for namespace, spec in queries.items():
            columns = {name: mapping["usage"] for item in spec["metrics"] for name, mapping in item.items()}
            assert all(usage in ("LABEL", "GAUGE", "COUNTER") for usage in columns.values())
            cursor = conn.execute(spec["query"])
            names = [d.name for d in cursor.description or ()]
            assert set(names) == set(columns), f"{namespace}: every column is mapped"
            for row in cursor.fetchall():
                values = dict(zip(names, row, strict=True))
                labels = tuple(sorted((n, str(v)) for n, v in values.items() if columns[n] == "LABEL"))
                for name, value in values.items():
                    if columns[name] != "LABEL":
                        metrics[(f"{namespace}_{name}", labels)] = float(value)
    return metrics


def test_the_postgres_exporter_queries_give_the_append_count_and_the_lag(dsn: str) -> None:
    with EventStore(dsn) as store:
        store.append("order-1", [NewEvent("Placed", {}) for _ in range(7)])
        store.save_checkpoint("mailer", 3)
        store.save_checkpoint("ledger", 7)
        first = scrape(dsn)
        store.append("order-2", [NewEvent("Placed", {}) for _ in range(5)])
        with psycopg.connect(dsn) as holder:
            # An open transaction's append holds back every event committed after it.
            store.append("order-3", [NewEvent("Held", {})], conn=holder)
            store.append("order-4", [NewEvent("Placed", {})])
            second = scrape(dsn)
            holder.rollback()
    mailer, ledger = (("subscription", "mailer"),), (("subscription", "ledger"),)
    assert first[("pgeventstore_log_head", ())] == 7
    assert first[("pgeventstore_subscription_position", mailer)] == 3
    assert first[("pgeventstore_subscription_events_behind", mailer)] == 4
    assert first[("pgeventstore_subscription_events_behind", ledger)] == 0
    assert first[("pgeventstore_subscription_events_held_back", ledger)] == 0
    assert first[("pgeventstore_subscription_held_back_seconds", ledger)] == 0
    assert 0 <= first[("pgeventstore_subscription_checkpoint_age_seconds", ledger)] < 60
    # 5 more appended and readable; the one after the open transaction held back.
    assert second[("pgeventstore_log_head", ())] == 12
    assert second[("pgeventstore_subscription_events_behind", ledger)] == 6
    assert second[("pgeventstore_subscription_events_held_back", ledger)] == 1
    assert second[("pgeventstore_subscription_held_back_seconds", ledger)] > 0
