-- The router's versions of the store's API functions, generated from the store's own
-- functions as installed in this database, so their names, arguments, defaults and
-- results are the shards' by construction.
--
-- Guarantees:
-- * Routed by stream (the first argument, stream_id): for each function in v_by_stream,
--   eventstore_router.<name> is a PL/Proxy function calling eventstore.<name> on the
--   shard of partition hashtext(stream_id) & (N-1) (a NULL stream id goes to partition 0,
--   whose shard refuses it), and eventstore.<name> calls it and re-raises a shard's error
--   with PL/Proxy's prefixes taken off (eventstore_router.reraise): same SQLSTATE,
--   message, DETAIL and HINT as the unsharded store. Each call runs and commits on its
--   shard on its own: rolling back the caller's transaction on the router undoes nothing.
-- * On every shard: for each function in v_on_all, eventstore_router.<name> runs
--   eventstore.<name> on every shard once and returns all their rows (the router's own
--   eventstore.list_streams and eventstore.stats merge them).
-- * Refused: the functions in v_refused (the global log, checkpoints, subscriptions:
--   per shard) raise ES501 on the router (eventstore_router.refuse_on_router).
-- A name the store does not have is skipped; a routed function whose first argument is
-- not stream_id is an error, so a new function cannot be routed by the wrong argument.
do $routing$
declare
    v_by_stream constant text[] := array[
        'append_to_stream', 'append_event', 'read_stream', 'stream_version', 'save_snapshot',
        'load_snapshot', 'load_stream'];
    v_on_all constant text[] := array['list_streams_before', 'stats'];
    v_refused constant text[] := array[
        'read_all', 'read_category', 'number_log', 'log_head', 'log_number_of', 'save_checkpoint',
        'load_checkpoint', 'subscription_lag', 'is_processed'];
    v_function record;
    v_args text;
    v_body text;
begin
    for v_function in
        select p.oid, p.proname::text as name, p.proretset,
               pg_catalog.pg_get_function_arguments(p.oid) as arguments,
               pg_catalog.pg_get_function_identity_arguments(p.oid) as identity_arguments,
               pg_catalog.pg_get_function_result(p.oid) as result,
               p.pronargs, p.proargnames
          from pg_catalog.pg_proc p
         where p.pronamespace = 'eventstore'::regnamespace
           and p.proname = any (v_by_stream || v_on_all || v_refused)
         order by p.proname
    loop
        select string_agg('$' || n, ', ' order by n) into v_args
          from generate_series(1, v_function.pronargs) as n;
        if v_function.name = any (v_refused) then
            execute format(
                'create or replace function eventstore.%I(%s) returns %s language plpgsql volatile '
                'set search_path = pg_catalog, pg_temp as %L',
                v_function.name, v_function.arguments, v_function.result,
                format('begin perform eventstore_router.refuse_on_router(%L); end;', v_function.name));
            continue;
        end if;
        if v_function.name = any (v_by_stream) and v_function.proargnames[1] is distinct from 'stream_id' then
            raise exception 'eventstore.% cannot be routed: its first argument is not stream_id', v_function.name;
        end if;
        execute format(
            'create or replace function eventstore_router.%I(%s) returns %s language plproxy as %L',
            v_function.name, v_function.identity_arguments, v_function.result,
            format('cluster ''eventstore''; run on %s; target eventstore.%I;',
                   case when v_function.name = any (v_by_stream)
                        then 'coalesce(pg_catalog.hashtext($1), 0)' else 'all' end,
                   v_function.name));
        if v_function.name = any (v_on_all) then
            continue;
        end if;
        v_body := case when v_function.proretset
                       then format('return query select * from eventstore_router.%I(%s);', v_function.name, v_args)
                       else format('return eventstore_router.%I(%s);', v_function.name, v_args) end;
        execute format(
            'create or replace function eventstore.%I(%s) returns %s language plpgsql volatile '
            'set search_path = pg_catalog, pg_temp as %L',
            v_function.name, v_function.arguments, v_function.result,
            format('declare v_state text; v_message text; v_detail text; v_hint text; '
                   'begin %s '
                   'exception when others then '
                   'get stacked diagnostics v_state = returned_sqlstate, v_message = message_text, '
                   'v_detail = pg_exception_detail, v_hint = pg_exception_hint; '
                   'perform eventstore_router.reraise(v_state, v_message, v_detail, v_hint); '
                   'end;', v_body));
    end loop;
end;
$routing$;
