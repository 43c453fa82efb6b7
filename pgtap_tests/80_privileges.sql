-- Roles and privileges (issue 7): the three roles, what each may call, that nobody reaches
-- the tables except through the functions, and that the SECURITY DEFINER functions cannot
-- be hijacked through search_path, function or operator shadowing.
begin;
select plan(60);

-- pgTAP keeps its state in temp tables of the session user; the roles below must write them.
grant all on all tables in schema pg_temp to public;
grant all on all sequences in schema pg_temp to public;

-- The specification: reading functions (reader) and writing functions (writer). Names not
-- installed in this database are ignored, so the lists may name other issues' functions.
create temp table expected_grants (role name, function_name name);
insert into expected_grants
select 'eventstore_reader', unnest(array[
    'category', 'version', 'stream_version', 'read_stream', 'load_snapshot', 'load_stream',
    'read_all', 'read_category', 'load_checkpoint', 'subscription_lag', 'is_processed',
    'list_streams', 'stats', 'consumer_group_member', 'number_log', 'log_head', 'log_number_of',
    'list_streams_before', 'read_shards', 'get_stream_metadata']);
insert into expected_grants
select 'eventstore_writer', unnest(array['append_to_stream', 'append_event', 'save_snapshot', 'save_checkpoint',
                                         'set_stream_metadata', 'delete_stream']);
-- the eventsourcing library's persistence module (88_eventsourcing.sql)
insert into expected_grants
select 'eventstore_reader', unnest(array['read_versioned', 'stream_log_numbers', 'category_head', 'max_tracking_id']);
insert into expected_grants
select 'eventstore_writer', unnest(array['append_versioned', 'record_tracking']);
grant select on expected_grants to public;

-- ---- the roles ----
select has_role('eventstore_reader');
select has_role('eventstore_writer');
select has_role('eventstore_admin');
select is((select count(*)::integer from pg_roles
            where rolname like 'eventstore\_%' and rolname in ('eventstore_reader', 'eventstore_writer', 'eventstore_admin')
              and not rolcanlogin and not rolsuper and not rolcreaterole and not rolcreatedb and not rolbypassrls),
          3, 'the three roles are NOLOGIN and carry no attribute');
select is_member_of('eventstore_reader', 'eventstore_writer');
select is_member_of('eventstore_writer', 'eventstore_admin');
select ok(not pg_has_role('eventstore_reader', 'eventstore_writer', 'member'), 'reader is not a writer');
select ok(not pg_has_role('eventstore_writer', 'eventstore_admin', 'member'), 'writer is not an admin');

-- ---- the catalog: every function, every table ----
select is_empty(
    $$select p.oid::regprocedure::text
        from pg_proc p, aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
       where p.pronamespace = 'eventstore'::regnamespace and a.grantee = 0$$,
    'no eventstore function is executable by PUBLIC');
select is_empty(
    $$select p.oid::regprocedure::text from pg_proc p
       where p.pronamespace = 'eventstore'::regnamespace
         and not has_function_privilege('eventstore_admin', p.oid, 'execute')$$,
    'eventstore_admin may execute every eventstore function');
select is_empty(
    $$select p.oid::regprocedure::text from pg_proc p
       where p.pronamespace = 'eventstore'::regnamespace
         and p.prorettype <> 'trigger'::regtype and not p.prosecdef
         and p.proname not in ('category', 'consumer_group_member', 'stream_id_is_valid', 'is_plain_batch',
                                'is_plain_event', 'notify_appended', 'framed_xid', 'log_key', 'readable_data', 'stored_data', 'event_is_retired')$$,
    'every eventstore function but the trigger functions and the inlined rules is SECURITY DEFINER');
select is_empty(
    $$select p.oid::regprocedure::text from pg_proc p
       where p.pronamespace = 'eventstore'::regnamespace
         and p.prorettype = 'trigger'::regtype and p.prosecdef$$,
    'trigger functions are SECURITY INVOKER (they check who changes the table)');
select set_eq(
    $$select p.proname from pg_proc p
       where p.pronamespace = 'eventstore'::regnamespace
         and has_function_privilege('eventstore_reader', p.oid, 'execute')$$,
    $$select g.function_name from expected_grants g
       where g.role = 'eventstore_reader'
         and exists (select from pg_proc p where p.pronamespace = 'eventstore'::regnamespace and p.proname = g.function_name)$$,
    'eventstore_reader may execute exactly the reading functions');
select set_eq(
    $$select p.proname from pg_proc p
       where p.pronamespace = 'eventstore'::regnamespace
         and has_function_privilege('eventstore_writer', p.oid, 'execute')$$,
    $$select g.function_name from expected_grants g
       where exists (select from pg_proc p where p.pronamespace = 'eventstore'::regnamespace and p.proname = g.function_name)$$,
    'eventstore_writer may execute exactly the reading and writing functions');
select is_empty(
    $$select c.oid::regclass::text, a.privilege_type
        from pg_class c, aclexplode(coalesce(c.relacl, acldefault((case when c.relkind = 'S' then 's' else 'r' end)::"char", c.relowner))) a
       where c.relnamespace = 'eventstore'::regnamespace and a.grantee <> c.relowner$$,
    'no role but the owner has any privilege on an eventstore table or sequence');
select ok(has_schema_privilege('eventstore_reader', 'eventstore', 'usage'), 'the roles may use the schema');
select ok(not has_schema_privilege('eventstore_admin', 'eventstore', 'create'), 'not even admin may create objects in it');
select is_empty(
    $$select a.privilege_type from pg_namespace n, aclexplode(n.nspacl) a
       where n.nspname = 'eventstore' and a.grantee = 0$$,
    'PUBLIC has no privilege on the schema');

-- ---- a role with no grant ----
create role eventstore_test_nobody nologin;
set role eventstore_test_nobody;
select throws_ok($$select eventstore.stream_version('a-1')$$, '42501', null, 'a role without grants cannot read');
select throws_ok($$select eventstore.append_event('a-1', null, 'T', '1')$$, '42501', null, 'a role without grants cannot append');
reset role;

-- ---- eventstore_writer: appends, snapshots and reads; no table, no helper ----
set role eventstore_writer;
select lives_ok($$select eventstore.append_to_stream('order-1', -1, '[{"type": "Placed", "data": {"n": 1}}]')$$,
                'writer may append_to_stream');
select lives_ok($$select eventstore.append_event('order-1', 0, 'Paid', '{"n": 2}')$$, 'writer may append_event');
select is(eventstore.save_snapshot('order-1', 1, '{"s": 1}'), true, 'writer may save_snapshot');
select is(eventstore.stream_version('order-1'), 1::bigint, 'writer may read (stream_version)');
select is((select count(*)::integer from eventstore.read_stream('order-1')), 2, 'writer may read_stream');
select throws_ok($$insert into eventstore.events (stream_id, version, event_id, event_type, data)
                   values ('order-1', 2, gen_random_uuid(), 'X', '1')$$, '42501', null, 'writer cannot INSERT into events');
select throws_ok($$update eventstore.events set data = '0'$$, '42501', null, 'writer cannot UPDATE events');
select throws_ok($$delete from eventstore.events$$, '42501', null, 'writer cannot DELETE events');
select throws_ok($$truncate eventstore.events$$, '42501', null, 'writer cannot TRUNCATE events');
select throws_ok($$select * from eventstore.events$$, '42501', null, 'writer cannot SELECT events directly');
select throws_ok($$update eventstore.snapshots set version = 0$$, '42501', null, 'writer cannot UPDATE snapshots');
select throws_ok($$insert into eventstore.snapshots (stream_id, version, state, schema_version)
                   values ('order-1', 1, '{}', 1)$$, '42501', null, 'writer cannot INSERT snapshots');
select throws_ok($$delete from eventstore.schema_migrations$$, '42501', null, 'writer cannot touch schema_migrations');
select throws_ok($$select eventstore.check_events('[]')$$, '42501', null, 'writer cannot call validation helpers');
select throws_ok($$select eventstore.raise_wrong_expected_version('order-1', 5)$$, '42501', null,
                 'writer cannot call raise_wrong_expected_version');
select throws_ok($$select * from eventstore.find_stored_batch('order-1', null, array[gen_random_uuid()])$$, '42501', null,
                 'writer cannot call find_stored_batch');
select throws_ok($$create function eventstore.evil() returns int language sql return 1$$, '42501', null,
                 'writer cannot create functions in the schema');
reset role;

-- ---- eventstore_reader: reads only ----
set role eventstore_reader;
select is(eventstore.stream_version('order-1'), 1::bigint, 'reader may call stream_version');
select is((select count(*)::integer from eventstore.read_stream('order-1')), 2, 'reader may call read_stream');
select is((select count(*)::integer from eventstore.load_stream('order-1')), 1, 'reader may call load_stream');
select is((select version from eventstore.load_snapshot('order-1')), 1::bigint, 'reader may call load_snapshot');
select is(eventstore.category('order-1'), 'order', 'reader may call category');
select ok(eventstore.version() is not null, 'reader may call version');
select throws_ok($$select eventstore.append_to_stream('order-1', 1, '[{"type": "X", "data": 1}]')$$, '42501', null,
                 'reader cannot append_to_stream');
select throws_ok($$select eventstore.append_event('order-1', 1, 'X', '1')$$, '42501', null, 'reader cannot append_event');
select throws_ok($$select eventstore.save_snapshot('order-1', 1, '{}')$$, '42501', null, 'reader cannot save_snapshot');
select throws_ok($$select * from eventstore.snapshots$$, '42501', null, 'reader cannot SELECT snapshots directly');
select throws_ok($$select eventstore.check_stream_id('x')$$, '42501', null, 'reader cannot call validation helpers');
reset role;

-- ---- eventstore_admin: every function, still no table ----
set role eventstore_admin;
select lives_ok($$select eventstore.check_stream_id('order-1')$$, 'admin may call helpers');
select lives_ok($$select eventstore.append_event('order-1', 1, 'Shipped', '{}')$$, 'admin may append');
select throws_ok($$select * from eventstore.snapshots$$, '42501', null, 'admin cannot SELECT snapshots directly');
reset role;

-- ---- a DBA grants a role to a login role ----
create role eventstore_test_app login;
grant eventstore_writer to eventstore_test_app;
set role eventstore_test_app;
select lives_ok($$select eventstore.append_event('order-2', -1, 'Placed', '{}')$$, 'a login role granted writer may append');
reset role;

-- ---- hijack attempts: search_path, function, operator and temp-table shadowing ----
create role eventstore_test_mallory nologin;
grant eventstore_writer to eventstore_test_mallory;
grant create on schema public to eventstore_test_mallory;
set role eventstore_test_mallory;
create function public.length(text) returns integer language sql immutable return 1;
create function public.jsonb_typeof(jsonb) returns text language sql immutable return 'array';
create function public.texteq_always(text, text) returns boolean language sql immutable return true;
create operator public.= (leftarg = text, rightarg = text, function = public.texteq_always);
create function pg_temp.length(text) returns integer language sql immutable return 1;
create temp table events (stream_id text, version bigint);
-- The shadowing objects would fool pgTAP itself, so only these helpers run with them in
-- front of pg_catalog: the caller's search_path is the attacker's.
create function pg_temp.hijacked(statement text) returns void language plpgsql
set search_path = pg_temp, public, pg_catalog
as $h$ begin execute statement; end $h$;
create function pg_temp.hijacked_check(expression text) returns boolean language plpgsql
set search_path = pg_temp, public, pg_catalog
as $h$ declare v boolean; begin execute 'select ' || expression into v; return v; end $h$;
select ok(pg_temp.hijacked_check($$'a' = 'b'$$), 'the shadowing = operator is in effect for the caller');
select is(pg_temp.hijacked_check($$length('abc') = 1$$), true, 'the shadowing length() is in effect for the caller');
select throws_ok($$select pg_temp.hijacked('select eventstore.append_event(repeat(''x'', 300), null, ''T'', ''1'')')$$,
                 'ES400', null, 'a shadowed length() does not weaken the stream id check');
select throws_ok($$select pg_temp.hijacked('select eventstore.append_to_stream(''order-3'', null, ''{"type": "T", "data": 1}'')')$$,
                 'ES400', null, 'a shadowed jsonb_typeof() does not weaken the batch check');
select throws_ok($$select pg_temp.hijacked('select eventstore.append_event(''order-1'', 0, ''Late'', ''1'')')$$,
                 'ES409', null, 'a shadowed = operator does not weaken the version check');
select lives_ok($$select pg_temp.hijacked('select eventstore.append_event(''order-3'', -1, ''Placed'', ''1'')')$$,
                'appends still work with the attacker''s search_path');
select is((select count(*)::integer from eventstore.read_stream('order-3')), 1,
          'the event went to eventstore.events, not to a temp table called events');
select is((select count(*)::integer from pg_temp.events), 0, 'the temp table events is untouched');
reset role;

select * from finish();
rollback;
