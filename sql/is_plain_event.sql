-- eventstore.is_plain_event(type, data, metadata): whether one event given as separate
-- arguments (eventstore.append_event) passes the batch rules, decided in one cheap
-- expression.
--
-- Guarantees: true only when type is a string of 1 to 255 bytes, data is NULL (stored
-- as JSON null) or at most 1 MiB, and metadata is NULL, JSON null or an object of at most
-- 1 MiB; the one-event batch built from such arguments passes eventstore.check_events
-- (tests/test_sql_properties.py checks this on generated events). Sizes are uncompressed:
-- a value read from a table arrives compressed or out of line, and #> '{}' is the value
-- itself, decompressed (a value given uncompressed is returned as it is).
-- False for anything else, never NULL, never raises. check_events stays the one home of
-- the rules; this is a sufficient test for append_event's fast path. A constant NULL
-- metadata folds its part away when the caller is planned (append_event relies on it).
-- Inlined into its callers: a SQL-standard body (names bound when it is created), no SET
-- clause and SECURITY INVOKER (grants.sql keeps it so).
create or replace function eventstore.is_plain_event(type text, data jsonb, metadata jsonb)
returns boolean
language sql
stable
parallel safe
return coalesce(
    -- Bytes bound characters from above: a longer multibyte type is left to check_events.
    pg_catalog.octet_length($1) operator(pg_catalog.<@) '[1,255]'::pg_catalog.int4range
    and ($2 is null
         or pg_catalog.pg_column_size($2 operator(pg_catalog.#>) '{}'::text[]) operator(pg_catalog.<=) 1048576)
    and ($3 is null
         or (pg_catalog.jsonb_typeof($3) operator(pg_catalog.=) any ('{object,"null"}'::text[])
             and pg_catalog.pg_column_size($3 operator(pg_catalog.#>) '{}'::text[]) operator(pg_catalog.<=) 1048576)),
    false);

comment on function eventstore.is_plain_event(text, jsonb, jsonb) is
    'Whether one event''s type, data and metadata pass the batch rules (a sufficient test for append_event''s fast path).';
