-- 0004: performance (docs/performance.md has the measurements behind each change).
--
-- eventstore.check_events now returns the ids array alone instead of a set of rows, so that
-- append_to_stream takes its result in one plpgsql expression rather than a query.
-- CREATE OR REPLACE cannot change a function's result type, so the old definition is
-- dropped here; the function files in sql/ (applied right after the migrations) create the
-- new one. Until they have run, appends fail: upgrade with `pgeventstore migrate`, which
-- does both in one run, or with the DBA script, which does both in one transaction.
drop function if exists eventstore.check_events(jsonb);

insert into eventstore.schema_migrations (migration_id) values ('0004.performance');
