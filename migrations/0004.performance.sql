-- 0004: performance (docs/performance.md has the measurements behind each change).
--
-- CREATE OR REPLACE cannot change a function's result type, so the functions whose result
-- type changes are dropped here; the function files in sql/ (applied after every
-- migration run) create them again:
-- * eventstore.check_events returns the ids array alone instead of a set of rows, so that
--   append_to_stream takes its result in one plpgsql expression rather than a query;
-- * eventstore.append_to_stream (and append_event, which depends on it) are dropped and
--   created again as the function files declare them. A pre-release of this migration
--   gave append_to_stream OUT parameters instead of its documented TABLE result (3% of
--   an append); the contract (pgtap_tests/11_contract.sql) keeps the TABLE result.
drop function if exists eventstore.check_events(jsonb);
drop function if exists eventstore.append_event(text, bigint, text, jsonb, jsonb, uuid);
drop function if exists eventstore.append_to_stream(text, bigint, jsonb);

insert into eventstore.schema_migrations (migration_id) values ('0004.performance');
