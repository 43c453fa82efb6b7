-- Checkpoints and is_processed in one session: forward-only saves, compare-and-set,
-- validation, the event a checkpoint names, and a log whose position order differs from
-- its commit order. Concurrent savers are raced in tests/test_global_log.py.
select plan(33);

select eventstore.append_to_stream('order-1', -1, '[{"type":"A","data":{}},{"type":"B","data":{}}]');
select eventstore.append_to_stream('order-2', -1, '[{"type":"C","data":{}}]');
-- Positions 1, 2, 3. Position 4 is written as an OLDER transaction would have written
-- it: a later position with an earlier transaction id, so it sorts first in the log.
insert into eventstore.events (stream_id, version, event_id, event_type, data, transaction_id)
values ('order-9', 0, gen_random_uuid(), 'Old', '{}', '3');

select results_eq(
    $$select log_number, global_position from eventstore.read_all()$$,
    $$values (1::bigint, 4::bigint), (2, 1), (3, 2), (4, 3)$$,
    'log numbers follow the gap-safe order (transaction_id, global_position), not global_position');

select is(eventstore.log_number_of(4), 1::bigint, 'log_number_of converts a global position to its log number');
select is(eventstore.log_number_of(404), null::bigint, 'and is NULL for a position with no numbered event');
select is(eventstore.load_checkpoint('projection'), 0::bigint, 'an unknown subscription''s checkpoint is 0');
select ok(eventstore.save_checkpoint('projection', 2), 'a first save is stored');
select is(eventstore.load_checkpoint('projection'), 2::bigint, 'load_checkpoint returns it');
select ok(eventstore.save_checkpoint('projection', 2), 'saving the same checkpoint again is true');
select ok(not eventstore.save_checkpoint('projection', 1), 'a forward-only save refuses an earlier log number');
select ok(not eventstore.save_checkpoint('projection', 0), 'nor can it go back to 0');
select is(eventstore.load_checkpoint('projection'), 2::bigint, 'the checkpoint is kept');
select ok(eventstore.save_checkpoint('projection', 4), 'moving forward is stored');
select is(eventstore.load_checkpoint('projection'), 4::bigint, 'and kept');

select ok(not eventstore.save_checkpoint('projection', 3, 2), 'compare-and-set with a stale expected value loses');
select is(eventstore.load_checkpoint('projection'), 4::bigint, 'a loser changes nothing');
select ok(eventstore.save_checkpoint('projection', 0, 4), 'compare-and-set naming the current value may reset to 0');
select is(eventstore.load_checkpoint('projection'), 0::bigint, 'the checkpoint is reset');
select ok(eventstore.save_checkpoint('fresh', 2, 0), 'expected 0 stores a first checkpoint');
select ok(not eventstore.save_checkpoint('fresh', 3, 0), 'expected 0 loses once a checkpoint exists');
select ok(eventstore.save_checkpoint('fresh', 3, 2), 'expected = current wins');

select throws_ok($$select eventstore.save_checkpoint('', 1)$$, 'ES400', null, 'an empty subscription name is ES400');
select throws_ok($$select eventstore.save_checkpoint(null, 1)$$, 'ES400', null, 'a NULL subscription name is ES400');
select throws_ok($$select eventstore.save_checkpoint('x', -1)$$, 'ES400', null, 'a negative checkpoint is ES400');
select throws_ok($$select eventstore.save_checkpoint('x', null)$$, 'ES400', null, 'a NULL checkpoint is ES400');
select throws_ok($$select eventstore.save_checkpoint('x', 1, -1)$$, 'ES400', null, 'a negative expected is ES400');
select throws_ok($$select eventstore.save_checkpoint('x', 777)$$, 'ES404', null,
                 'a checkpoint above the newest log number is ES404: it would skip the events up to it');

select results_eq(
    $$select eventstore.is_processed(2, n) from unnest(array[1, 2, 3, 555]) n$$,
    $$values (true), (true), (false), (false)$$,
    'is_processed(2, n) is n <= 2');
select ok(not eventstore.is_processed(0, 1), 'checkpoint 0 has processed nothing');
select throws_ok($$select eventstore.is_processed(1, null)$$, 'ES400', null, 'a NULL log number is ES400');

select results_eq(
    $$select subscription, "position", events_behind, events_held_back, held_back_by_pid
        from eventstore.subscription_lag()$$,
    $$values ('fresh'::text, 3::bigint, 1::bigint, 0::bigint, null::integer),
             ('projection', 0, 4, 0, null)$$,
    'subscription_lag: events after each checkpoint, none held back');

-- A checkpoint remembers the event it names. Here the log is made to diverge as a
-- failover that lost the last commits would: the number 3 now names another event.
select ok(eventstore.save_checkpoint('diverged', 3), 'a checkpoint at log number 3');
begin;
set local eventstore.permit_event_change = on;
delete from eventstore.log where log_number >= 3;
set local eventstore.permit_event_change = off;
insert into eventstore.log (log_number, global_position, transaction_id, event_id)
select 3, e.global_position, e.transaction_id, gen_random_uuid() from eventstore.events e where e.global_position = 2;
commit;
select eventstore.number_log();
select throws_ok($$select eventstore.load_checkpoint('diverged')$$, 'ES419', null,
                 'loading a checkpoint whose number now names another event is ES419');
select throws_ok($$select eventstore.save_checkpoint('diverged', 4)$$, 'ES419', null,
                 'moving it forward is ES419 too: the events after it may differ');
select ok(eventstore.save_checkpoint('diverged', 0, 3),
          'compare-and-set naming the diverged checkpoint moves it (the documented way out)');

select * from finish();
