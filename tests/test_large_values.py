"""Values read from a table reach the functions as stored (compressed or out of line).

The size limits on such values are pgtap_tests/16_sizes.sql; here, the time it takes: a
batch read from a table column is appended about as fast as the same batch given as a
literal, because it is decompressed once, not once per event.
"""

from __future__ import annotations

import time

import psycopg


def timed_append(conn: psycopg.Connection, stream_id: str, batch_sql: str, params: tuple[str, ...]) -> float:
    """Seconds to append the batch; the append is rolled back."""
    with conn.transaction(force_rollback=True):
        start = time.perf_counter()
        row = conn.execute(
            f"select stream_version from eventstore.append_to_stream(%s, -1, {batch_sql})",
            (stream_id, *params),
        ).fetchone()
        elapsed = time.perf_counter() - start
    assert row == (9999,)
    return elapsed


def test_a_compressed_batch_is_appended_about_as_fast_as_the_same_literal(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("create table batches (b jsonb)")
        # 10,000 events of about 2 KB: 20 MB of JSON that compresses to well under 1 MB.
        conn.execute(
            "insert into batches select jsonb_agg(jsonb_build_object("
            "'type', 'E', 'data', jsonb_build_object('n', i, 's', repeat(md5(i::text), 62)))) "
            "from generate_series(1, 10000) i"
        )
        row = conn.execute(
            "select pg_column_compression(b), pg_column_size(b), pg_column_size(b #> '{}'), b::text "
            "from batches"
        ).fetchone()
        assert row is not None
        compression, stored, size, literal = row
        assert compression is not None and stored < size // 10, (compression, stored, size)

        as_literal = timed_append(conn, "literal-1", "%s::jsonb", (literal,))
        from_table = timed_append(conn, "table-1", "(select b from batches)", ())
    # Decompressing the whole batch once per event took 30 s against 1 s for the literal.
    assert from_table < 2 * as_literal + 1.0, (from_table, as_literal)
