-- Checkpoints and is_processed in one session: forward-only saves, compare-and-set,
-- validation, and a log whose position order differs from its commit order.
-- Concurrent savers are raced in tests/test_global_log.py.
select plan(27);

select eventstore.append_to_stream('order-1', -1, '[{"type":"A","data":{}},{"type":"B","data":{}}]');
select eventstore.append_to_stream('order-2', -1, '[{"type":"C","data":{}}]');
-- Positions 1, 2, 3. Position 4 is written as an OLDER transaction would have written
-- it: a later position with an earlier transaction id, so it sorts first in the log.
insert into eventstore.events (stream_id, version, event_id, event_type, data, transaction_id)
values ('order-9', 0, gen_random_uuid(), 'Old', '{}', '3');

select results_eq(
    $$select global_position from eventstore.read_all()$$,
    $$values (4::bigint), (1), (2), (3)$$,
    'the log order is (transaction_id, global_position), not global_position');

select is(eventstore.load_checkpoint('projection'), 0::bigint, 'an unknown subscription''s checkpoint is 0');
select ok(eventstore.save_checkpoint('projection', 1), 'a first save is stored');
select is(eventstore.load_checkpoint('projection'), 1::bigint, 'load_checkpoint returns it');
select ok(eventstore.save_checkpoint('projection', 1), 'saving the same checkpoint again is true');
select ok(not eventstore.save_checkpoint('projection', 4), 'position 4 sorts before 1: a forward-only save refuses it');
select ok(not eventstore.save_checkpoint('projection', 0), 'nor can it go back to 0');
select is(eventstore.load_checkpoint('projection'), 1::bigint, 'the checkpoint is kept');
select ok(eventstore.save_checkpoint('projection', 3), 'moving forward is stored');
select is(eventstore.load_checkpoint('projection'), 3::bigint, 'and kept');

select ok(not eventstore.save_checkpoint('projection', 2, 1), 'compare-and-set with a stale expected value loses');
select is(eventstore.load_checkpoint('projection'), 3::bigint, 'a loser changes nothing');
select ok(eventstore.save_checkpoint('projection', 0, 3), 'compare-and-set naming the current value may reset to 0');
select is(eventstore.load_checkpoint('projection'), 0::bigint, 'the checkpoint is reset');
select ok(eventstore.save_checkpoint('fresh', 2, 0), 'expected 0 stores a first checkpoint');
select ok(not eventstore.save_checkpoint('fresh', 3, 0), 'expected 0 loses once a checkpoint exists');
select ok(eventstore.save_checkpoint('fresh', 3, 2), 'expected = current wins');

select throws_ok($$select eventstore.save_checkpoint('', 1)$$, 'ES400', null, 'an empty subscription name is ES400');
select throws_ok($$select eventstore.save_checkpoint(null, 1)$$, 'ES400', null, 'a NULL subscription name is ES400');
select throws_ok($$select eventstore.save_checkpoint('x', -1)$$, 'ES400', null, 'a negative checkpoint is ES400');
select throws_ok($$select eventstore.save_checkpoint('x', 1, -1)$$, 'ES400', null, 'a negative expected is ES400');
select throws_ok($$select eventstore.save_checkpoint('x', 777)$$, 'ES404', null, 'a checkpoint that is no event''s position is ES404');

select results_eq(
    $$select eventstore.is_processed(1, p) from unnest(array[4, 1, 2, 3]) p$$,
    $$values (true), (true), (false), (false)$$,
    'is_processed(1, p): the events at or before position 1 in log order, including the later position 4');
select ok(not eventstore.is_processed(0, 4), 'checkpoint 0 has processed nothing');
select ok(not eventstore.is_processed(3, 555), 'an unknown position is not processed');
select throws_ok($$select eventstore.is_processed(1, 0)$$, 'ES400', null, 'event_position 0 is ES400');

select results_eq(
    $$select subscription, "position", events_behind, events_held_back, held_back_by_pid
        from eventstore.subscription_lag()$$,
    $$values ('fresh'::text, 3::bigint, 0::bigint, 0::bigint, null::integer),
             ('projection', 0, 4, 0, null)$$,
    'subscription_lag: events after each checkpoint, none held back');

select * from finish();
