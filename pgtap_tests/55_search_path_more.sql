-- search_path independence of the global log, checkpoint, listing and statistics
-- functions (50_search_path.sql covers the append, read and snapshot functions): a caller
-- whose search_path puts hostile look-alikes of pg_catalog functions, operators and of the
-- store's tables first (in public and in pg_temp), or whose search_path is empty, gets
-- exactly the results and errors of a normal caller. The setup commits (no enclosing
-- transaction) because read_all only returns events of ended transactions.

select eventstore.append_to_stream('order-1', -1, '[{"type": "OrderPlaced", "data": {"n": 1}}]');
select eventstore.append_to_stream('order-2', -1,
    '[{"type": "OrderPlaced", "data": {"n": 2}}, {"type": "OrderShipped", "data": {"n": 3}}]');
select eventstore.append_to_stream('cart-1', -1, '[{"type": "ItemAdded", "data": {"n": 4}, "metadata": {"m": 1}}]');
select eventstore.append_to_stream('order-1', 0, '[{"type": "OrderShipped", "data": {"n": 5}}]');
select eventstore.save_snapshot('order-1', 0, '{"s": 0}');
select eventstore.save_checkpoint('setup-sub', 2);

begin;
select plan(53);

-- Helpers, created under the normal search_path and written with qualified names only,
-- so they behave the same under the hostile one.
create function pg_temp.error_of(statement text)
returns jsonb
language plpgsql
as $$
declare
    v_state text;
    v_message text;
    v_detail text;
begin
    execute statement;
    return null;
exception when others then
    get stacked diagnostics v_state = returned_sqlstate, v_message = message_text, v_detail = pg_exception_detail;
    return pg_catalog.jsonb_build_object('sqlstate', v_state, 'message', v_message, 'detail', v_detail);
end;
$$;
create temp table saves (caller text, step integer, saved boolean);

-- What one caller sees (tables <prefix>_*, checkpoint <prefix>-sub, rows in saves), run
-- under whatever search_path the caller has set: the statements are parsed when executed.
create function pg_temp.capture(p_prefix text, p_caller text)
returns void
language plpgsql
as $f$
declare
    v_statement text;
begin
    -- %1$s: the prefix of the result tables, %2$L: the caller in saves, %3$L: its checkpoint.
    foreach v_statement in array array[
        $s$create temp table %1$s_read_all as select * from eventstore.read_all()$s$,
        $s$create temp table %1$s_read_page as select * from eventstore.read_all(2, 2)$s$,
        $s$create temp table %1$s_read_types as select * from eventstore.read_all(0, 100, array['OrderShipped'])$s$,
        $s$create temp table %1$s_read_all_category as select * from eventstore.read_all(0, 100, null, 'order')$s$,
        $s$create temp table %1$s_read_category as select * from eventstore.read_category('order', 1)$s$,
        $s$create temp table %1$s_read_group as
select k as member, r.* from pg_catalog.generate_series(0, 1) k, eventstore.read_category('order', 0, 100, k, 2) r$s$,
        $s$create temp table %1$s_scalars as
select eventstore.load_checkpoint('setup-sub') as loaded, eventstore.load_checkpoint('absent-sub') as absent,
       eventstore.is_processed(3, 2) as p_3_2, eventstore.is_processed(2, 3) as p_2_3,
       eventstore.is_processed(0, 1) as p_0_1, eventstore.is_processed(5, 5) as p_5_5,
       eventstore.is_processed(5, 999) as p_missing$s$,
        $s$create temp table %1$s_lag as select * from eventstore.subscription_lag()$s$,
        $s$create temp table %1$s_streams as select * from eventstore.list_streams()$s$,
        $s$create temp table %1$s_streams_page as select * from eventstore.list_streams('order', 1, 'order-2')$s$,
        $s$create temp table %1$s_stats as select * from eventstore.stats()$s$,
        $s$create temp table %1$s_errors as
select pg_temp.error_of($q$select eventstore.read_all(null)$q$) as read_negative,
       pg_temp.error_of($q$select eventstore.read_all(2, 10, after_event_id => '00000000-0000-0000-0000-000000000001')$q$) as read_unknown,
       pg_temp.error_of($q$select eventstore.read_all(0, 0)$q$) as read_zero,
       pg_temp.error_of($q$select eventstore.read_category('order-1')$q$) as category_dash,
       pg_temp.error_of($q$select eventstore.read_category('order', 0, 10, 2, 2)$q$) as group_member,
       pg_temp.error_of($q$select eventstore.save_checkpoint('', 1)$q$) as checkpoint_name,
       pg_temp.error_of($q$select eventstore.save_checkpoint('x-sub', 999)$q$) as checkpoint_unknown,
       pg_temp.error_of($q$select eventstore.save_checkpoint('x-sub', 1, -1)$q$) as checkpoint_expected,
       pg_temp.error_of($q$select eventstore.is_processed(1, null)$q$) as processed_zero,
       pg_temp.error_of($q$select eventstore.is_processed(999, 1)$q$) as processed_unknown,
       pg_temp.error_of($q$select eventstore.list_streams(null, 0)$q$) as streams_zero,
       pg_temp.error_of($q$select eventstore.list_streams(after => 'order-404')$q$) as streams_unknown,
       pg_temp.error_of($q$select eventstore.list_streams(after => E'order\n1')$q$) as streams_bad_after$s$,
        $s$insert into pg_temp.saves values (%2$L, 1, eventstore.save_checkpoint(%3$L, 2))$s$,
        $s$insert into pg_temp.saves values (%2$L, 2, eventstore.save_checkpoint(%3$L, 1))$s$,
        $s$insert into pg_temp.saves values (%2$L, 3, eventstore.save_checkpoint(%3$L, 4))$s$,
        $s$insert into pg_temp.saves values (%2$L, 4, eventstore.save_checkpoint(%3$L, 5, 3))$s$,
        $s$insert into pg_temp.saves values (%2$L, 5, eventstore.save_checkpoint(%3$L, 5, 4))$s$,
        $s$insert into pg_temp.saves values (%2$L, 6, eventstore.save_checkpoint(%3$L, 5))$s$
    ] loop
        execute pg_catalog.format(v_statement, p_prefix, p_caller, pg_catalog.concat(p_prefix, '-sub'));
    end loop;
end;
$f$;

-- What a normal caller sees, to compare with later.
select pg_temp.capture('n', 'normal');

-- Hostile look-alikes in public: each would break an unqualified call in an unpinned function.
create function public.length(text) returns integer language sql immutable return 1;
create function public.strpos(text, text) returns integer language sql immutable return 0;
create function public.quote_literal(text) returns text language sql immutable return '''evil'''::text;
create function public.hashtextextended(text, bigint) returns bigint language sql immutable return 0;
create function public.now() returns timestamptz language sql stable return '2000-01-01 00:00:00+00'::timestamptz;
create function public.pg_current_snapshot() returns pg_snapshot language sql return '1:1:'::pg_snapshot;
create function public.pg_snapshot_xmin(pg_snapshot) returns xid8 language sql immutable return '1'::xid8;
create function public.pg_current_xact_id() returns xid8 language sql return '3'::xid8;
create function public.age(xid) returns integer language sql immutable return 0;
create function public.pg_total_relation_size(regclass) returns bigint language sql return 0;
create function public.evil_text_eq(text, text) returns boolean language sql immutable return true;
create function public.evil_text_ne(text, text) returns boolean language sql immutable return false;
create function public.evil_bigint_eq(bigint, bigint) returns boolean language sql immutable return true;
create function public.evil_bigint_lt(bigint, bigint) returns boolean language sql immutable return false;
create function public.evil_bigint_gt(bigint, bigint) returns boolean language sql immutable return false;
create function public.evil_xid8_lt(xid8, xid8) returns boolean language sql immutable return false;
create function public.evil_xid8_gt(xid8, xid8) returns boolean language sql immutable return true;
create function public.evil_timestamptz_lt(timestamptz, timestamptz) returns boolean language sql immutable return true;
create operator public.= (leftarg = text, rightarg = text, function = public.evil_text_eq);
create operator public.<> (leftarg = text, rightarg = text, function = public.evil_text_ne);
create operator public.= (leftarg = bigint, rightarg = bigint, function = public.evil_bigint_eq);
create operator public.< (leftarg = bigint, rightarg = bigint, function = public.evil_bigint_lt);
create operator public.> (leftarg = bigint, rightarg = bigint, function = public.evil_bigint_gt);
create operator public.< (leftarg = xid8, rightarg = xid8, function = public.evil_xid8_lt);
create operator public.> (leftarg = xid8, rightarg = xid8, function = public.evil_xid8_gt);
create operator public.< (leftarg = timestamptz, rightarg = timestamptz, function = public.evil_timestamptz_lt);
create table public.events (stream_id text, version bigint, global_position bigint, transaction_id xid8);
create table public.streams (stream_id text, version bigint, created_at timestamptz);
create table public.checkpoints (subscription text, position bigint);
insert into public.streams values ('evil-1', 41, now());
insert into public.checkpoints values ('setup-sub', 41);

-- And in pg_temp: tables that shadow unqualified names even before public, and functions.
create temp table events (stream_id text, version bigint, global_position bigint, transaction_id xid8);
create temp table streams (stream_id text, version bigint, created_at timestamptz);
create temp table checkpoints (subscription text, position bigint);
create temp table snapshots (stream_id text, version bigint, state jsonb);
insert into pg_temp.streams values ('evil-2', 42, now());
insert into pg_temp.checkpoints values ('setup-sub', 42), ('h-sub', 42);
create function pg_temp.length(text) returns integer language sql immutable return 1;
create function pg_temp.strpos(text, text) returns integer language sql immutable return 0;

-- The hostile caller: public, then pg_catalog (so the look-alikes win), temp tables first.
set local search_path = pg_temp, public, pg_catalog;

-- Proof that the look-alikes take effect for unqualified names in this session.
create temp table h_effective as
select strpos('a-b', '-') as pos, 2::bigint > 1::bigint as gt,
       (select count(*) from checkpoints where subscription = 'nobody') as checkpoints;

select pg_temp.capture('h', 'hostile');
create temp table h_saved as select eventstore.load_checkpoint('h-sub') as loaded;

-- An empty search_path: nothing resolves unless qualified.
set local search_path = '';
create temp table e_read_all as select * from eventstore.read_all();
create temp table e_read_category as select * from eventstore.read_category('order', 1);
create temp table e_scalars as
select eventstore.load_checkpoint('setup-sub') as loaded, eventstore.load_checkpoint('absent-sub') as absent,
       eventstore.is_processed(3, 2) as p_3_2, eventstore.is_processed(2, 3) as p_2_3,
       eventstore.is_processed(0, 1) as p_0_1, eventstore.is_processed(5, 5) as p_5_5,
       eventstore.is_processed(5, 999) as p_missing;
create temp table e_streams as select * from eventstore.list_streams();
create temp table e_stats as select * from eventstore.stats();
create temp table e_errors as
select pg_temp.error_of($q$select eventstore.read_all(2, 10, after_event_id => '00000000-0000-0000-0000-000000000001')$q$) as read_unknown,
       pg_temp.error_of($q$select eventstore.list_streams(after => 'order-404')$q$) as streams_unknown;
insert into pg_temp.saves values ('empty', 1, eventstore.save_checkpoint('e-sub', 2));
insert into pg_temp.saves values ('empty', 2, eventstore.save_checkpoint('e-sub', 1));
create temp table e_lag as select * from eventstore.subscription_lag();

-- Back to the normal search_path to check what the hostile and empty ones produced.
reset search_path;

select results_eq($$select pos, gt, checkpoints from h_effective$$, $$values (0, false, 2::bigint)$$,
                  'the hostile look-alikes do capture unqualified names');

-- The normal caller's answers are right (so equal answers below mean right answers).
select results_eq($$select global_position, (data ->> 'n')::int from n_read_all$$,
                  $$values (1::bigint, 1), (2, 2), (3, 3), (4, 4), (5, 5)$$,
                  'normal: read_all returns the five events in log order (positions 1..5)');
select results_eq($$select (data ->> 'n')::int from n_read_category$$, $$values (2), (3), (5)$$,
                  'normal: read_category continues after the cursor');
select results_eq($$select loaded, absent, p_3_2, p_2_3, p_0_1, p_5_5, p_missing from n_scalars$$,
                  $$values (2::bigint, 0::bigint, true, false, false, true, false)$$,
                  'normal: load_checkpoint and is_processed');
select results_eq($$select stream_id collate "default" from n_streams$$,
                  $$values ('cart-1'::text), ('order-2'), ('order-1')$$, 'normal: list_streams, newest first');
select results_eq($$select streams, events, snapshots from n_stats where kind = 'total'$$,
                  $$values (3::bigint, 5::bigint, 1::bigint)$$, 'normal: stats total');
select results_eq($$select caller, step, saved from saves where caller = 'normal' order by step$$,
                  $$values ('normal'::text, 1, true), ('normal', 2, false), ('normal', 3, true),
                           ('normal', 4, false), ('normal', 5, true), ('normal', 6, true)$$,
                  'normal: save_checkpoint forward only and compare-and-set');

-- The hostile caller gets exactly the same.
select results_eq($$select * from h_read_all$$, $$select * from n_read_all$$, 'hostile: read_all()');
select results_eq($$select * from h_read_page$$, $$select * from n_read_page$$, 'hostile: read_all after a cursor, one page');
select results_eq($$select * from h_read_types$$, $$select * from n_read_types$$, 'hostile: read_all by event types');
select results_eq($$select * from h_read_all_category$$, $$select * from n_read_all_category$$,
                  'hostile: read_all of one category');
select results_eq($$select * from h_read_category$$, $$select * from n_read_category$$, 'hostile: read_category');
select results_eq($$select * from h_read_group$$, $$select * from n_read_group$$,
                  'hostile: read_category per consumer group member');
select is((select count(*) from h_read_group), 4::bigint, 'hostile: the group members together get each order event once');
select results_eq($$select * from h_scalars$$, $$select * from n_scalars$$, 'hostile: load_checkpoint and is_processed');
select results_eq($$select subscription, "position", events_behind, events_held_back, held_back_by_pid
                      from h_lag where subscription = 'setup-sub'$$,
                  $$select subscription, "position", events_behind, events_held_back, held_back_by_pid
                      from n_lag where subscription = 'setup-sub'$$,
                  'hostile: subscription_lag');
select results_eq($$select subscription collate "default", "position", events_behind from h_lag$$,
                  $$values ('n-sub'::text, 5::bigint, 0::bigint), ('setup-sub', 2, 3)$$,
                  'hostile: subscription_lag counts the events after each checkpoint');
select results_eq($$select * from h_streams$$, $$select * from n_streams$$, 'hostile: list_streams()');
select results_eq($$select * from h_streams_page$$, $$select * from n_streams_page$$,
                  'hostile: list_streams of a category after a stream');
select results_eq($$select stream_id collate "default" from h_streams_page$$, $$values ('order-1'::text)$$,
                  'hostile: the page after order-2 is order-1');
select results_eq($$select * from h_stats$$, $$select * from n_stats$$, 'hostile: stats(), disk size included');

select is((select read_negative from h_errors), (select read_negative from n_errors),
          'hostile: read_all of a NULL cursor, same error');
select is((select read_negative ->> 'sqlstate' from h_errors), 'ES400', 'hostile: a NULL cursor is ES400');
select is((select read_unknown from h_errors), (select read_unknown from n_errors),
          'hostile: read_all of a diverged cursor, same error');
select is((select read_unknown ->> 'sqlstate' from h_errors), 'ES419', 'hostile: a diverged cursor is ES419');
select is((select read_zero from h_errors), (select read_zero from n_errors), 'hostile: read_all max_count 0, same error');
select is((select category_dash from h_errors), (select category_dash from n_errors),
          'hostile: read_category of a stream id, same error (message quotes the real literal)');
select is((select category_dash ->> 'sqlstate' from h_errors), 'ES400', 'hostile: a category with a dash is ES400');
select is((select group_member from h_errors), (select group_member from n_errors),
          'hostile: read_category of member 2 of 2, same error');
select is((select checkpoint_name from h_errors), (select checkpoint_name from n_errors),
          'hostile: save_checkpoint of an empty name, same error');
select is((select checkpoint_name ->> 'sqlstate' from h_errors), 'ES400', 'hostile: an empty subscription name is ES400');
select is((select checkpoint_unknown from h_errors), (select checkpoint_unknown from n_errors),
          'hostile: save_checkpoint of an unknown position, same error');
select is((select checkpoint_expected from h_errors), (select checkpoint_expected from n_errors),
          'hostile: save_checkpoint of a negative expected, same error');
select is((select processed_zero from h_errors), (select processed_zero from n_errors),
          'hostile: is_processed of a NULL log number, same error');
select is((select processed_unknown from h_errors), (select processed_unknown from n_errors),
          'hostile: is_processed of an unknown checkpoint, same error');
select is((select checkpoint_unknown ->> 'sqlstate' from h_errors), 'ES404', 'hostile: a checkpoint above the head is ES404');
select is((select streams_zero from h_errors), (select streams_zero from n_errors),
          'hostile: list_streams max_count 0, same error');
select is((select streams_unknown from h_errors), (select streams_unknown from n_errors),
          'hostile: list_streams after an unknown stream, same error');
select is((select streams_unknown ->> 'sqlstate' from h_errors), 'ES404', 'hostile: after an unknown stream is ES404');
select is((select streams_bad_after from h_errors), (select streams_bad_after from n_errors),
          'hostile: list_streams after an invalid stream id, same error');

select results_eq($$select step, saved from saves where caller = 'hostile' order by step$$,
                  $$select step, saved from saves where caller = 'normal' order by step$$,
                  'hostile: save_checkpoint answers as for the normal caller');
select results_eq($$select subscription collate "default", position, updated_at from eventstore.checkpoints
                     where subscription in ('n-sub', 'h-sub') order by subscription$$,
                  $$values ('h-sub'::text, 5::bigint, now()), ('n-sub', 5, now())$$,
                  'hostile: the stored checkpoint and its real time');
select is((select loaded from h_saved), 5::bigint, 'hostile: load_checkpoint after saving');
select results_eq($$select subscription, position from pg_temp.checkpoints order by 1$$,
                  $$values ('h-sub'::text, 42::bigint), ('setup-sub', 42)$$,
                  'hostile: the look-alike checkpoints table in pg_temp is untouched');
select results_eq($$select subscription, position from public.checkpoints$$, $$values ('setup-sub'::text, 41::bigint)$$,
                  'hostile: the look-alike checkpoints table in public is untouched');

select results_eq($$select * from e_read_all$$, $$select * from n_read_all$$, 'empty search_path: read_all');
select results_eq($$select * from e_read_category$$, $$select * from n_read_category$$, 'empty search_path: read_category');
select results_eq($$select * from e_scalars$$, $$select * from n_scalars$$,
                  'empty search_path: load_checkpoint and is_processed');
select results_eq($$select * from e_streams$$, $$select * from n_streams$$, 'empty search_path: list_streams');
select results_eq($$select * from e_stats$$, $$select * from n_stats$$, 'empty search_path: stats');
select results_eq($$select read_unknown, streams_unknown from e_errors$$,
                  $$select read_unknown, streams_unknown from n_errors$$, 'empty search_path: the same errors');
select results_eq($$select step, saved from saves where caller = 'empty' order by step$$,
                  $$values (1, true), (2, false)$$, 'empty search_path: save_checkpoint');
select results_eq($$select "position", events_behind from e_lag where subscription = 'e-sub'$$,
                  $$values (2::bigint, 3::bigint)$$, 'empty search_path: subscription_lag');

select * from finish();
rollback;
