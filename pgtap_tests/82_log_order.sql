-- Restore safety (issue 7): appends are refused with ES503 while the cluster's transaction
-- ids are behind the newest recorded one, as after pg_dump/restore into a fresh cluster,
-- so new events never sort before stored ones in the global log.
begin;
select plan(6);

select has_trigger('eventstore', 'events', 'events_check_log_order', 'events has the log order trigger');
select lives_ok($$select eventstore.append_event('order-1', -1, 'Placed', '{}')$$, 'appends work in a normal cluster');

-- What a restore from a cluster in xid epoch 23 leaves behind: an event recorded with a
-- transaction id far ahead of this cluster's.
insert into eventstore.events (stream_id, version, event_id, event_type, data, transaction_id)
values ('order-1', 1, gen_random_uuid(), 'Restored', '{}', '99999999999');
update eventstore.streams set version = 1 where stream_id = 'order-1';

select throws_ok($$select eventstore.append_event('order-2', -1, 'Placed', '{}')$$, 'ES503', null,
                 'an append while the cluster''s xids are behind is refused with ES503');
select throws_ok($$select eventstore.append_event('order-1', 1, 'Paid', '{}')$$, 'ES503', null,
                 'also to a stream that exists');
select is((select count(*)::integer from eventstore.events), 2, 'nothing was written');

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

select * from finish();
rollback;
