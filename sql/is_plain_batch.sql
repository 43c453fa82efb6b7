-- eventstore.is_plain_batch(events): whether an append batch is one event without an id
-- that eventstore.check_events accepts, decided in one cheap expression.
--
-- Guarantees: true only for a JSON array of exactly one object with a string "type" of 1
-- to 255 characters, a "data" key, "metadata" absent, null or an object, no other key
-- (no "id"), and at most 1 MiB in all, uncompressed (a batch read from a table arrives
-- compressed or out of line; #> '{}' is the value itself, decompressed); every such batch
-- passes check_events with no ids (tests/test_sql_properties.py checks this against
-- check_events on generated batches). False for anything else, including valid batches it
-- does not cover, which eventstore.append_to_stream then checks with check_events; never
-- NULL, never raises.
-- It exists so that the common one-event append need not run check_events.
-- Inlined into its callers: a SQL-standard body (names bound when it is created), no SET
-- clause and SECURITY INVOKER (grants.sql keeps it so).
create or replace function eventstore.is_plain_batch(events jsonb)
returns boolean
language sql
stable
parallel safe
return coalesce(
    $1 operator(pg_catalog.@@)
        '$.type() == "array" && $.size() == 1 && $[0].type() == "object"
         && $[0].type.type() == "string" && $[0].type != "" && exists($[0].data)
         && (!exists($[0].metadata) || $[0].metadata.type() == "object" || $[0].metadata.type() == "null")'::jsonpath
    and $1 operator(pg_catalog.->) 0 operator(pg_catalog.-) '{type,data,metadata}'::text[] operator(pg_catalog.=) '{}'::jsonb
    and pg_catalog.length($1 operator(pg_catalog.->) 0 operator(pg_catalog.->>) 'type') <= 255
    and pg_catalog.pg_column_size($1 operator(pg_catalog.#>) '{}'::text[]) <= 1048576,
    false);

comment on function eventstore.is_plain_batch(jsonb) is
    'Whether a batch is one valid event without an id (a sufficient test for append''s fast path).';
