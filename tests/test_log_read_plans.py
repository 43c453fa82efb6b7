"""The readers reach a page's events by index, from a session's first call on, and hold
a large result in memory (the last test).

Since migration 0013 an event's key is (transaction_id, global_position). A join of the
log to the events on that pair is estimated as if its two columns were independent, far
below its real size, and a session's first calls (PL/pgSQL plans them for their
arguments) then chose a hash join of both whole tables for one page: hundreds of
milliseconds instead of a few. These tests count, in the calling transaction, the
sequential scans a first page makes of the events table on a store large enough for the
planner to tell the plans apart.
"""

from __future__ import annotations

import json

import psycopg

EVENTS = 20_000
PAGE = 1000


def fill(dsn: str) -> None:
    """EVENTS events in 200 streams of two categories, numbered and analysed."""
    batch = json.dumps([{"type": "Filled", "data": {"n": i}} for i in range(100)])
    with psycopg.connect(dsn, autocommit=True) as conn:
        for stream in range(EVENTS // 100):
            conn.execute(
                "select eventstore.append_to_stream(%s, -1, %s::jsonb)",
                (f"{'order' if stream % 2 else 'invoice'}-{stream}", batch),
            )
        while conn.execute("select eventstore.number_log(100000)").fetchone() != (0,):
            pass
        conn.execute("analyze eventstore.events, eventstore.log")


def first_page_scans(dsn: str, query: str) -> tuple[int, int]:
    """(rows, sequential scans of eventstore.events) of ``query``, a fresh session's first call."""
    with psycopg.connect(dsn) as conn:
        rows = len(conn.execute(query).fetchall())
        row = conn.execute(
            "select coalesce(sum(seq_scan), 0) from pg_stat_xact_all_tables "
            "where relid = 'eventstore.events'::regclass"
        ).fetchone()
        conn.rollback()
    assert row is not None
    return rows, int(row[0])


def test_a_sessions_first_read_all_pages_read_the_events_by_index(dsn: str) -> None:
    fill(dsn)
    for after in (0, EVENTS // 2):
        query = f"select * from eventstore.read_all({after}, {PAGE})"
        assert first_page_scans(dsn, query) == (PAGE, 0), after
        # The page numbers its events by rank after the cursor: the log must agree.
        with psycopg.connect(dsn, autocommit=True) as conn:
            page = conn.execute(
                "select log_number, event_id from eventstore.read_all(%s, %s)", (after, PAGE)
            ).fetchall()
            log = conn.execute(
                "select l.log_number, l.event_id from eventstore.log l "
                "where l.log_number > %s order by l.log_number limit %s",
                (after, PAGE),
            ).fetchall()
        assert page == log, after


def test_a_sessions_first_read_category_pages_read_the_events_by_index(dsn: str) -> None:
    fill(dsn)
    for after in (0, EVENTS // 2):
        query = f"select * from eventstore.read_category('order', {after}, {PAGE})"
        assert first_page_scans(dsn, query) == (PAGE, 0), after


def temp_files_of(conn: psycopg.Connection[tuple[int]], query: str) -> int:
    """How many temporary files ``query`` made the database write (its own session's, flushed)."""

    def written() -> int:
        conn.execute("select pg_stat_force_next_flush()")
        # A new transaction (autocommit) sees the statistics that the last one flushed.
        row = conn.execute(
            "select temp_files from pg_stat_database where datname = current_database()"
        ).fetchone()
        assert row is not None
        return int(row[0])

    before = written()
    conn.execute(query).fetchall()
    return written() - before


def test_the_event_readers_hold_a_read_of_15000_events_in_memory(dsn: str) -> None:
    """Their result is a tuplestore: under the default work_mem (4MB) 15,000 events of about
    300 bytes spill to a temporary file; the readers' own work_mem (32MB) keeps them in memory."""
    size = 15_000
    data = {"note": "x" * 250}
    with psycopg.connect(dsn, autocommit=True) as conn:
        for first in range(0, size, 1000):
            # Originator versions as eventstore.append_versioned writes them, for read_versioned.
            batch = [
                {"type": "Big", "data": data, "metadata": {"originator_version": v + 1}}
                for v in range(first, first + 1000)
            ]
            conn.execute(
                "select eventstore.append_to_stream('big-1', %s, %s::jsonb)", (first - 1, json.dumps(batch))
            )
        conn.execute("select eventstore.number_log(100000)")
        conn.execute("set work_mem = '4MB'")
        spill = "select * from eventstore.events order by random()"
        assert temp_files_of(conn, spill) >= 1, "15,000 such rows must outgrow 4MB"
        for query in (
            f"select * from eventstore.read_stream('big-1', 0, {size})",
            "select * from eventstore.load_stream('big-1')",
            f"select * from eventstore.read_all(0, {size})",
            f"select * from eventstore.read_category('big', 0, {size})",
            f"select * from eventstore.read_versioned('big-1', null, null, false, {size})",
        ):
            assert temp_files_of(conn, query) == 0, query
