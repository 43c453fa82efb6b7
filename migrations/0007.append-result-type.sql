-- 0007: the appends return the named row type eventstore.append_result.
--
-- append_to_stream and append_event declared their row (stream_version, first_position,
-- last_position) with OUT parameters, and so did append_in_snapshot and
-- find_stored_batch with RETURNS TABLE. PostgreSQL builds the row descriptor of such a
-- function from its parameter list on every call, twice per append (once for the
-- caller's FROM, once in plpgsql); a named row type's descriptor comes from the type
-- cache. That was about 14,000 of the ~455,000 instructions of a one-event append
-- (docs/performance.md, round 4). The columns callers see are the same, and so is
-- everything else. CREATE OR REPLACE cannot change a result type, so the four functions
-- are dropped here and their function files create them again; `pgeventstore migrate`
-- and the DBA script both apply the migrations and the function files in one
-- transaction, so no caller sees them missing.
create type eventstore.append_result as (
    stream_version bigint,
    first_position bigint,
    last_position bigint
);

comment on type eventstore.append_result is
    'The result of an append: the new stream version and the global positions of its first and last event.';

drop function if exists eventstore.append_event(text, bigint, text, jsonb, jsonb, uuid);
drop function if exists eventstore.append_to_stream(text, bigint, jsonb);
drop function if exists eventstore.append_in_snapshot(text, bigint, jsonb);
drop function if exists eventstore.find_stored_batch(text, bigint, uuid[]);

insert into eventstore.schema_migrations (migration_id) values ('0007.append-result-type');
