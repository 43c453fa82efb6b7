-- 0004: performance (docs/performance.md has the measurements behind each change).
--
-- CREATE OR REPLACE cannot change a function's result type, so the functions whose result
-- type changes are dropped here; the function files in sql/ (applied after every
-- migration run) create them again:
-- * eventstore.check_events returns the ids array alone instead of a set of rows, so that
--   append_to_stream takes its result in one plpgsql expression rather than a query;
-- * eventstore.append_to_stream returns its one row through OUT parameters instead of a
--   set (no tuplestore per call); callers select from it exactly as before.
--   eventstore.append_event depends on it and is re-created with it.
drop function if exists eventstore.check_events(jsonb);
drop function if exists eventstore.append_event(text, bigint, text, jsonb, jsonb, uuid);
drop function if exists eventstore.append_to_stream(text, bigint, jsonb);

insert into eventstore.schema_migrations (migration_id) values ('0004.performance');
