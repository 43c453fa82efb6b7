-- Restore safety (issue 7): appends are refused with ES503 while the cluster's transaction
-- ids are behind the newest recorded one, as after pg_dump/restore into a fresh cluster,
-- so new events never sort before stored ones in the global log. The check runs at the
-- first append of a session (eventstore.check_log_order); a restored cluster always
-- starts new sessions, which this file stands in for by clearing the session's mark.
begin;
select plan(9);

select hasnt_trigger('eventstore', 'events', 'events_check_log_order',
                     'no per-statement trigger: the append checks the log order itself');
select lives_ok($$select eventstore.append_event('order-1', -1, 'Placed', '{}')$$, 'appends work in a normal cluster');
select is(current_setting('eventstore.log_order_checked', true), 'on',
          'a passing check marks the session, so later appends skip it');

-- What a restore from a cluster in xid epoch 23 leaves behind: an event recorded with a
-- transaction id far ahead of this cluster's.
insert into eventstore.events (stream_id, version, event_id, event_type, data, transaction_id)
values ('order-1', 1, gen_random_uuid(), 'Restored', '{}', '99999999999');
-- A new session after the restore:
select set_config('eventstore.log_order_checked', '', false);

select throws_ok($$select eventstore.append_event('order-2', -1, 'Placed', '{}')$$, 'ES503', null,
                 'an append while the cluster''s xids are behind is refused with ES503');
select throws_ok($$select eventstore.append_event('order-1', 1, 'Paid', '{}')$$, 'ES503', null,
                 'also to a stream that exists');
select is((select count(*)::integer from eventstore.events), 2, 'nothing was written');
select isnt(current_setting('eventstore.log_order_checked', true), 'on',
            'a failed check leaves the session unmarked: the next append checks again');

create function pg_temp.hint_of(statement text) returns text language plpgsql as $h$
declare v_hint text;
begin
    execute statement;
    return null;
exception when others then
    get stacked diagnostics v_hint = pg_exception_hint;
    return v_hint;
end $h$;
select matches(pg_temp.hint_of($$select eventstore.append_event('order-2', -1, 'Placed', '{}')$$),
               'pg_resetwal -e 24 ', 'the hint names the epoch that fixes it (99999999999 is in epoch 23)');

-- The events this transaction wrote itself do not count as ahead, though their id is
-- newer than its snapshot's xmax: only the stray one did.
set local eventstore.permit_event_change = on;
delete from eventstore.events where event_type = 'Restored';
set local eventstore.permit_event_change = off;
select lives_ok($$select eventstore.append_event('order-3', -1, 'Placed', '{}')$$,
                'with the stray event gone, the check passes again');

select * from finish();
rollback;
