-- eventstore.event_problem(event): what is wrong with one element of an append batch, as
-- the end of the ES400 message that eventstore.check_events raises ("event 3 <problem>");
-- NULL for a valid event.
--
-- Guarantees: this is the one home of the per-event rule: a JSON object whose keys are
-- type (string, 1 to 255 characters), data (required, any JSON, at most 1 MiB), metadata
-- (optional object or null, at most 1 MiB) and id (optional canonical uuid string or
-- null). Never raises. The batch rules (array, 1 to 10,000 events, 64 MiB, no id twice)
-- are check_events'.
-- Inlined into its callers: a SQL-standard body (names bound when it is created, so
-- search_path cannot redirect them), no SET clause and SECURITY INVOKER (grants.sql keeps
-- it so). append_to_stream tests a one-event batch with it in a single expression, which
-- is what makes its fast path cheap (docs/performance.md).
create or replace function eventstore.event_problem(event jsonb)
returns text
language sql
stable
parallel safe
return case
    when pg_catalog.jsonb_typeof($1) operator(pg_catalog.<>) 'object' then
        'is not a JSON object'
    when $1 operator(pg_catalog.-) '{type,data,metadata,id}'::text[] operator(pg_catalog.<>) '{}'::jsonb then
        'has an unknown key'
    when pg_catalog.jsonb_typeof($1 operator(pg_catalog.->) 'type') is distinct from 'string'
         or pg_catalog.length($1 operator(pg_catalog.->>) 'type') not between 1 and 255 then
        'needs "type": a string of 1 to 255 characters'
    when not $1 operator(pg_catalog.?) 'data' then
        'needs "data" (use null for an event without data)'
    when pg_catalog.pg_column_size($1 operator(pg_catalog.->) 'data') > 1048576 then
        'has "data" larger than 1 MiB'
    when pg_catalog.jsonb_typeof($1 operator(pg_catalog.->) 'metadata') not in ('object', 'null') then
        'has "metadata" that is not a JSON object'
    when pg_catalog.pg_column_size($1 operator(pg_catalog.->) 'metadata') > 1048576 then
        'has "metadata" larger than 1 MiB'
    when pg_catalog.jsonb_typeof($1 operator(pg_catalog.->) 'id') not in ('string', 'null')
         or ($1 operator(pg_catalog.->>) 'id') operator(pg_catalog.!~*)
            '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' then
        'has an "id" that is not a UUID string like ''5f0c1d9e-8a4b-4c3e-9f1a-2b3c4d5e6f70'''
end;

comment on function eventstore.event_problem(jsonb) is
    'What is wrong with one event of an append batch (the end of the ES400 message); NULL when it is valid.';
