-- 0004: performance (docs/performance.md).
--
-- eventstore.check_events returns one row (OUT parameters) instead of a set, so that
-- append_to_stream can take its result in one plpgsql expression rather than a query.
-- CREATE OR REPLACE cannot change a function's result type: the old one is dropped here
-- and sql/check_events.sql creates the new one with the other function files.
drop function if exists eventstore.check_events(jsonb);

insert into eventstore.schema_migrations (migration_id) values ('0004.performance');
