-- The installed catalog: schema, tables, functions, and the pinned search_path of every
-- function in the eventstore schema.
begin;
select plan(12);

select has_schema('eventstore');
select tables_are('eventstore', array['schema_migrations', 'events', 'snapshots', 'checkpoints', 'log',
                                      'log_frame', 'subject_keys', 'redactions', 'stream_metadata', 'scavenges',
                                      'tracking', 'subject_streams', 'stream_starts']);
select has_function('eventstore', 'append_to_stream', array['text', 'bigint', 'jsonb']);
select matches(eventstore.version(), '^[0-9]{4}\.[a-z0-9-]+$', 'version() names a migration (tests/test_install.py checks it is the newest)');

-- A function either pins search_path or has a SQL-standard body, whose names PostgreSQL
-- bound when it was created: nothing it calls can be redirected. The second kind exists to
-- be inlined into its callers (sql/grants.sql, the inlined list), which a SET clause would
-- prevent. append_event, the one exception, qualifies every name by hand because the SET
-- clause costs each call; 50_search_path.sql calls it under a hostile search_path.
select is_empty(
    $$select p.oid::regprocedure::text
        from pg_proc p
       where p.pronamespace = 'eventstore'::regnamespace
         and not coalesce(p.proconfig @> array['search_path=pg_catalog, pg_temp'], false)
         and p.prosqlbody is null
         and p.proname <> 'append_event'$$,
    'every eventstore function but append_event pins search_path to pg_catalog, pg_temp or has a SQL-standard body');
select set_eq(
    $$select p.proname::text from pg_proc p
       where p.pronamespace = 'eventstore'::regnamespace and p.proconfig is null$$,
    array['category', 'consumer_group_member', 'stream_id_is_valid', 'is_plain_batch', 'is_plain_event',
          'notify_appended', 'framed_xid', 'log_key', 'readable_data', 'stored_data', 'event_is_retired',
          'append_event'],
    'only the inlined rule functions and append_event go without a pinned search_path');

-- category is inlined: where it is called (number_log's numbering, list_streams, stats),
-- PostgreSQL evaluates split_part itself instead of running a SQL function per row.
create function pg_temp.plan_of(p_query text) returns text language plpgsql as $f$
declare
    v_line text;
    v_plan text := '';
begin
    for v_line in execute 'explain (verbose, costs off) ' || p_query loop
        v_plan := v_plan || v_line || E'\n';
    end loop;
    return v_plan;
end;
$f$;
select matches(pg_temp.plan_of('select eventstore.category(e.stream_id) from eventstore.events e'),
               'split_part', 'category is inlined into the query that calls it');
select matches(pg_temp.plan_of('select eventstore.consumer_group_member(e.stream_id, 3) from eventstore.events e'),
               'hashtextextended', 'consumer_group_member is inlined: a group read hashes without a call per event');
select matches(pg_temp.plan_of('select eventstore.notify_appended()'), 'pg_notify',
               'notify_appended is inlined: the appends test the setting without a call');
set local enable_seqscan = off;
-- A category's events are read in log order from the log's category index (the log keeps
-- each number's category, computed by number_log through the inlined category).
select matches(pg_temp.plan_of($$select l.log_number from eventstore.log l
                                  where l.category = 'order' and l.log_number > 5
                                  order by l.log_number$$),
               'log_category_idx(.|\n)*Index Cond: .*category.*log_number',
               'a category read in log order is one range of log_category_idx');
select doesnt_match(pg_temp.plan_of($$select l.log_number from eventstore.log l
                                 where l.category = 'order'$$),
                    'Filter', 'a category condition is an index condition, not a filter');
reset enable_seqscan;

select is_empty(
    $$select p.oid::regprocedure::text
        from pg_proc p
       where p.pronamespace = 'eventstore'::regnamespace
         and obj_description(p.oid, 'pg_proc') is null$$,
    'every eventstore function has a comment');

select * from finish();
rollback;
