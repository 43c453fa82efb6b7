-- The installed catalog: schema, tables, functions, and the pinned search_path of every
-- function in the eventstore schema.
begin;
select plan(6);

select has_schema('eventstore');
select tables_are('eventstore', array['schema_migrations', 'streams', 'events', 'snapshots', 'checkpoints']);
select has_function('eventstore', 'append_to_stream', array['text', 'bigint', 'jsonb']);
select matches(eventstore.version(), '^[0-9]{4}\.[a-z0-9-]+$', 'version() names a migration (tests/test_install.py checks it is the newest)');

select is_empty(
    $$select p.oid::regprocedure::text
        from pg_proc p
       where p.pronamespace = 'eventstore'::regnamespace
         and not coalesce(p.proconfig @> array['search_path=pg_catalog, pg_temp'], false)$$,
    'every eventstore function pins search_path to pg_catalog, pg_temp');

select is_empty(
    $$select p.oid::regprocedure::text
        from pg_proc p
       where p.pronamespace = 'eventstore'::regnamespace
         and obj_description(p.oid, 'pg_proc') is null$$,
    'every eventstore function has a comment');

select * from finish();
rollback;
