-- search_path independence: a caller whose search_path puts hostile look-alikes of
-- pg_catalog functions, operators and of the store's tables first (in public and in
-- pg_temp), or whose search_path is empty, gets exactly the results and errors of a
-- normal caller.
begin;
select plan(39);

-- Helpers, created under the normal search_path and written with qualified names only,
-- so they behave the same under the hostile one.
create function pg_temp.error_of(statement text)
returns jsonb
language plpgsql
as $$
declare
    v_state text;
    v_detail text;
begin
    execute statement;
    return null;
exception when others then
    get stacked diagnostics v_state = returned_sqlstate, v_detail = pg_exception_detail;
    return pg_catalog.jsonb_build_object('sqlstate', v_state, 'detail', v_detail);
end;
$$;

-- What a normal caller sees, to compare with later.
create temp table normal_version as select eventstore.version() as v;

-- Hostile look-alikes in public: each would break an unqualified call in an unpinned function.
create function public.length(text) returns integer language sql immutable return 1;
create function public.jsonb_typeof(jsonb) returns text language sql immutable return 'array'::text;
create function public.jsonb_array_length(jsonb) returns integer language sql immutable return 1;
create function public.gen_random_uuid() returns uuid language sql return '00000000-0000-4000-8000-0000000000ee'::uuid;
create function public.hashtextextended(text, bigint) returns bigint language sql immutable return 0;
create function public.now() returns timestamptz language sql stable return '2000-01-01 00:00:00+00'::timestamptz;
create function public.pg_current_xact_id() returns xid8 language sql return '3'::xid8;
create function public.split_part(text, text, integer) returns text language sql immutable return 'evil'::text;
create function public.quote_literal(text) returns text language sql immutable return '''evil'''::text;
create function public.evil_text_eq(text, text) returns boolean language sql immutable return true;
create function public.evil_text_ne(text, text) returns boolean language sql immutable return false;
create function public.evil_bigint_eq(bigint, bigint) returns boolean language sql immutable return true;
create function public.evil_bigint_lt(bigint, bigint) returns boolean language sql immutable return false;
create function public.evil_bigint_plus(bigint, bigint) returns bigint language sql immutable return 0;
create function public.evil_regex(text, text) returns boolean language sql immutable return false;
create operator public.= (leftarg = text, rightarg = text, function = public.evil_text_eq);
create operator public.<> (leftarg = text, rightarg = text, function = public.evil_text_ne);
create operator public.= (leftarg = bigint, rightarg = bigint, function = public.evil_bigint_eq);
create operator public.< (leftarg = bigint, rightarg = bigint, function = public.evil_bigint_lt);
create operator public.+ (leftarg = bigint, rightarg = bigint, function = public.evil_bigint_plus);
create operator public.~ (leftarg = text, rightarg = text, function = public.evil_regex);
-- Look-alikes of what append_event (which pins no search_path) calls: each raises, so an
-- unqualified name in it would fail the call.
create function public.evil_raise_text(text) returns text language plpgsql as $f$ begin raise exception 'hijacked'; end $f$;
create function public.evil_raise_text_bool(text, boolean) returns text language plpgsql as $f$ begin raise exception 'hijacked'; end $f$;
create function public.evil_raise_regclass(regclass) returns bigint language plpgsql as $f$ begin raise exception 'hijacked'; end $f$;
create function public.evil_raise_bigint_int(bigint, integer) returns boolean language plpgsql as $f$ begin raise exception 'hijacked'; end $f$;
create function public.evil_raise_bigint_plus_int(bigint, integer) returns bigint language plpgsql as $f$ begin raise exception 'hijacked'; end $f$;
create function public.evil_raise_jsonb_eq(jsonb, jsonb) returns boolean language plpgsql as $f$ begin raise exception 'hijacked'; end $f$;
create function public.evil_raise_jsonb_any(jsonb, text[]) returns boolean language plpgsql as $f$ begin raise exception 'hijacked'; end $f$;
create function public.current_setting(text) returns text language sql as $f$ select public.evil_raise_text($1) $f$;
create function public.current_setting(text, boolean) returns text language sql as $f$ select public.evil_raise_text_bool($1, $2) $f$;
create function public.nextval(regclass) returns bigint language sql as $f$ select public.evil_raise_regclass($1) $f$;
create operator public.= (leftarg = bigint, rightarg = integer, function = public.evil_raise_bigint_int);
create operator public.> (leftarg = bigint, rightarg = integer, function = public.evil_raise_bigint_int);
create operator public.+ (leftarg = bigint, rightarg = integer, function = public.evil_raise_bigint_plus_int);
create operator public.= (leftarg = jsonb, rightarg = jsonb, function = public.evil_raise_jsonb_eq);
create operator public.?| (leftarg = jsonb, rightarg = text[], function = public.evil_raise_jsonb_any);
create table public.events (stream_id text, version bigint, global_position bigint);
create table public.streams (stream_id text, version bigint);
create table public.snapshots (stream_id text, version bigint);
create table public.schema_migrations (migration_id text);
insert into public.schema_migrations values ('9999.evil');
insert into public.streams values ('hij-1', 41), ('hij-2', 41);

-- And in pg_temp: tables that shadow unqualified names even before public, and functions.
create temp table events (stream_id text, version bigint, global_position bigint);
create temp table streams (stream_id text, version bigint);
create temp table snapshots (stream_id text, version bigint, state jsonb);
create temp table schema_migrations (migration_id text);
insert into pg_temp.schema_migrations values ('9998.evil-temp');
insert into pg_temp.streams values ('hij-1', 42), ('hij-2', 42);
insert into pg_temp.snapshots values ('hij-1', 0, '"evil"');
create function pg_temp.length(text) returns integer language sql immutable return 1;
create function pg_temp.jsonb_typeof(jsonb) returns text language sql immutable return 'array'::text;
-- Types are looked up in pg_temp first: a cast to an unqualified type name would get these.
create domain pg_temp.jsonb as pg_catalog.jsonb check (false);
create domain pg_temp.regclass as pg_catalog.regclass check (false);

-- The hostile caller: public, then pg_catalog (so the look-alikes win), temp tables first.
set local search_path = pg_temp, public, pg_catalog;

-- Proof that the look-alikes take effect for unqualified names in this session.
create temp table h_effective as
select length('abc') as len, 'a' = 'b' as text_eq, (select count(*) from schema_migrations) as ledger;

create temp table h_append as
select * from eventstore.append_to_stream('hij-1', -1,
    '[{"type": "A", "data": 1, "id": "00000000-0000-4000-8000-000000000001"},
      {"type": "B", "data": 2, "metadata": {"m": 1}, "id": "00000000-0000-4000-8000-000000000002"}]');
create temp table h_retry as
select * from eventstore.append_to_stream('hij-1', -1,
    '[{"type": "A", "data": 1, "id": "00000000-0000-4000-8000-000000000001"},
      {"type": "B", "data": 2, "metadata": {"m": 1}, "id": "00000000-0000-4000-8000-000000000002"}]');
create temp table h_append2 as
select * from eventstore.append_to_stream('hij-2', null, '[{"type": "C", "data": 3}, {"type": "D", "data": 4}]');
create temp table h_event as
select * from eventstore.append_event('hij-1', 1, 'E', '5');
create temp table h_event_new as
select * from eventstore.append_event('hij-4', -1, 'F', '6', '{"k": 1}');
create temp table h_event_null_meta as
select * from eventstore.append_event('hij-4', 0, 'G', '7', 'null');
create temp table h_event_null_data as
select * from eventstore.append_event('hij-4', 1, 'H', null);
create temp table h_event_errors as
select pg_temp.error_of($q$select eventstore.append_event('hij-4', 0, 'X', '0')$q$) as stale,
       pg_temp.error_of($q$select eventstore.append_event(E'hij\n4', -1, 'X', '0')$q$) as control_id;
create temp table h_read as select * from eventstore.read_stream('hij-1');
create temp table h_read_back as select * from eventstore.read_stream('hij-1', null, 2, true);
create temp table h_versions as
select eventstore.stream_version('hij-1') as v1, eventstore.stream_version('hij-2') as v2,
       eventstore.stream_version('hij-absent') as absent;
create temp table h_snapshot as
select eventstore.save_snapshot('hij-1', 1, '{"s": 1}') as saved_1,
       eventstore.save_snapshot('hij-1', 0, '{"s": 0}') as saved_0;
create temp table h_load_snapshot as select * from eventstore.load_snapshot('hij-1');
create temp table h_load_stream as select * from eventstore.load_stream('hij-1');
create temp table h_misc as
select eventstore.version() as version, eventstore.category('hij-1') as category;
create temp table h_errors as
select pg_temp.error_of($q$select eventstore.append_to_stream('hij-1', 0, '[{"type": "X", "data": 0}]')$q$) as stale,
       pg_temp.error_of($q$select eventstore.append_to_stream('hij-1', -1, '[{"type": "X", "data": 0}]')$q$) as exists,
       pg_temp.error_of($q$select eventstore.append_to_stream('hij-9', -2, '[{"type": "X", "data": 0}]')$q$) as absent,
       pg_temp.error_of($q$select eventstore.append_to_stream('hij-99', 5, '[{"type": "X", "data": 0}]')$q$) as absent_n,
       pg_temp.error_of($q$select eventstore.append_to_stream('xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx', null, '[{"type": "X", "data": 0}]')$q$) as long_id,
       pg_temp.error_of($q$select eventstore.append_to_stream(E'hij\n1', null, '[{"type": "X", "data": 0}]')$q$) as control_id,
       pg_temp.error_of($q$select eventstore.append_to_stream('hij-1', null, '{"type": "X", "data": 0}')$q$) as not_array,
       pg_temp.error_of($q$select eventstore.append_to_stream('hij-1', 1, '[{"type": "X", "data": 0, "id": "00000000-0000-4000-8000-000000000001"}]')$q$) as partial_retry,
       pg_temp.error_of($q$select eventstore.append_to_stream('hij-3', null, '[{"type": "X", "data": 0, "id": "00000000-0000-4000-8000-000000000001"}]')$q$) as other_stream,
       pg_temp.error_of($q$select eventstore.read_stream('hij-1', 0, 0)$q$) as zero_page,
       pg_temp.error_of($q$select eventstore.save_snapshot('hij-1', 9, '{}')$q$) as snapshot_ahead;

-- An empty search_path: nothing resolves unless qualified.
set local search_path = '';
create temp table e_append as
select * from eventstore.append_to_stream('empty-1', -1, '[{"type": "A", "data": 1}]');
create temp table e_read as select * from eventstore.read_stream('empty-1');
create temp table e_misc as
select eventstore.version() as version, eventstore.stream_version('empty-1') as v,
       pg_temp.error_of($q$select eventstore.append_to_stream('empty-1', -1, '[{"type": "A", "data": 1}]')$q$) as conflict;

-- Back to the normal search_path to check what the hostile and empty ones produced (the
-- checks below cast to jsonb: the temp look-alike types go first).
reset search_path;
drop domain pg_temp.jsonb;
drop domain pg_temp.regclass;

select results_eq($$select len, text_eq, ledger from h_effective$$, $$values (1, true, 1::bigint)$$,
                  'the hostile look-alikes do capture unqualified names');
select results_eq($$select stream_version, last_position - first_position from h_append$$,
                  $$values (1::bigint, 1::bigint)$$, 'hostile: a two-event append returns version 1');
select results_eq($$select * from h_retry$$, $$select * from h_append$$,
                  'hostile: the idempotent retry returns the original result');
select results_eq($$select stream_version from h_append2$$, $$values (1::bigint)$$,
                  'hostile: an append to a second stream starts at its own version 0');
select results_eq($$select stream_version from h_event$$, $$values (2::bigint)$$,
                  'hostile: append_event at expected version 1');
select results_eq(
    $$select version, event_type collate "default", data, metadata from eventstore.events
       where stream_id = 'hij-1' order by version$$,
    $$values (0::bigint, 'A'::text, '1'::jsonb, null::jsonb), (1, 'B', '2', '{"m": 1}'), (2, 'E', '5', null)$$,
    'hostile: the stream holds exactly the appended events');
select is((select count(distinct event_id) from eventstore.events), (select count(*) from eventstore.events),
          'hostile: every generated event id is distinct (no hijacked gen_random_uuid)');
select is_empty($$select 1 from eventstore.events where event_id = '00000000-0000-4000-8000-0000000000ee'$$,
                'hostile: no event got the hijacked uuid');
select is((select min(transaction_id) from eventstore.events), pg_current_xact_id(),
          'hostile: events record the real transaction id');
select is((select min(recorded_at) from eventstore.events), now(), 'hostile: events record the real time');
select results_eq($$select stream_version from h_event_new union all select stream_version from h_event_null_meta
                    union all select stream_version from h_event_null_data$$,
                  $$values (0::bigint), (1), (2)$$, 'hostile: append_event to a new stream, then at its version');
select results_eq(
    $$select version, event_type collate "default", data, metadata from eventstore.events
       where stream_id = 'hij-4' order by version$$,
    $$values (0::bigint, 'F'::text, '6'::jsonb, '{"k": 1}'::jsonb), (1, 'G', '7', null), (2, 'H', 'null', null)$$,
    'hostile: append_event stores its metadata, a JSON null metadata as NULL and a NULL data as JSON null');
select results_eq($$select stale ->> 'sqlstate', control_id ->> 'sqlstate' from h_event_errors$$,
                  $$values ('ES409'::text, 'ES400'::text)$$,
                  'hostile: append_event answers a stale version with ES409 and a bad stream id with ES400');
select results_eq($$select stream_id collate "default", max(version) from eventstore.events group by stream_id order by stream_id$$,
                  $$values ('empty-1'::text, 0::bigint), ('hij-1', 2), ('hij-2', 1), ('hij-4', 2)$$,
                  'hostile: the store''s streams are right');
select is((select count(*) from public.events) + (select count(*) from pg_temp.events), 0::bigint,
          'hostile: nothing was written to the look-alike events tables');
select results_eq($$select stream_id, version from public.streams order by 1$$,
                  $$values ('hij-1'::text, 41::bigint), ('hij-2', 41)$$,
                  'hostile: the look-alike streams table in public is untouched');

select results_eq(
    $$select stream_id collate "default", version, global_position, event_id, data from h_read$$,
    $$select stream_id collate "default", version, global_position, event_id, data
        from eventstore.events where stream_id = 'hij-1' order by version$$,
    'hostile: read_stream returns the stream''s events in order');
select results_eq($$select version from h_read_back$$, $$values (2::bigint), (1)$$,
                  'hostile: read_stream backward from the end');
select results_eq($$select v1, v2, absent from h_versions$$, $$values (2::bigint, 1::bigint, -1::bigint)$$,
                  'hostile: stream_version');
select results_eq($$select saved_1, saved_0 from h_snapshot$$, $$values (true, false)$$,
                  'hostile: save_snapshot keeps the newer snapshot');
select results_eq($$select version, state from h_load_snapshot$$, $$values (1::bigint, '{"s": 1}'::jsonb)$$,
                  'hostile: load_snapshot returns the store''s snapshot, not the look-alike');
select results_eq($$select kind, version from h_load_stream$$,
                  $$values ('snapshot'::text, 1::bigint), ('event', 2)$$,
                  'hostile: load_stream returns the snapshot and the later event');
select is((select version from h_misc), (select v from normal_version), 'hostile: version() is the normal answer');
select is((select version from h_misc), (select max(migration_id) from eventstore.schema_migrations),
          'hostile: version() is the newest recorded migration');
select is((select category from h_misc), 'hij', 'hostile: category()');

select is((select stale ->> 'sqlstate' from h_errors), 'ES409', 'hostile: a stale expected version is ES409');
select is((select (stale ->> 'detail')::jsonb from h_errors),
          '{"stream_id": "hij-1", "expected_version": 0, "actual_version": 2}'::jsonb,
          'hostile: the ES409 DETAIL has the actual version');
select is((select exists ->> 'sqlstate' from h_errors), 'ES409', 'hostile: -1 on an existing stream is ES409');
select is((select absent ->> 'sqlstate' from h_errors), 'ES409', 'hostile: -2 on an absent stream is ES409');
select is((select absent_n ->> 'sqlstate' from h_errors), 'ES409', 'hostile: 5 on an absent stream is ES409');
select is((select long_id ->> 'sqlstate' from h_errors), 'ES400', 'hostile: a 256-character stream id is ES400');
select is((select control_id ->> 'sqlstate' from h_errors), 'ES400', 'hostile: a control character is ES400');
select is((select not_array ->> 'sqlstate' from h_errors), 'ES400', 'hostile: a non-array batch is ES400');
select is((select partial_retry ->> 'sqlstate' from h_errors), 'ES409', 'hostile: an out-of-place retry is ES409');
select is((select other_stream ->> 'sqlstate' from h_errors), 'ES412', 'hostile: an id from another stream is ES412');
select is((select zero_page ->> 'sqlstate' from h_errors), 'ES400', 'hostile: max_count 0 is ES400');
select is((select snapshot_ahead ->> 'sqlstate' from h_errors), 'ES400', 'hostile: a snapshot ahead of the stream is ES400');

select results_eq($$select e.stream_version, r.version, r.event_type collate "default" from e_append e, e_read r$$,
                  $$values (0::bigint, 0::bigint, 'A'::text)$$, 'empty search_path: append and read');
select results_eq($$select version, v, conflict ->> 'sqlstate' from e_misc$$,
                  $$select v, 0::bigint, 'ES409'::text from normal_version$$,
                  'empty search_path: version(), stream_version() and ES409');

select * from finish();
rollback;
