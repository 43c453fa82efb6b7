-- The log frame and numbering (eventstore.check_log_frame, eventstore.number_log): events
-- that came from another cluster (a restore into a younger cluster), whose recorded
-- transaction ids are ahead of this cluster's, are adopted by the first append of a
-- session: no superuser, no pg_resetwal. Statements commit (no enclosing transaction)
-- because numbering sees only ended transactions; a restored cluster always starts new
-- sessions, which this file stands in for by clearing the session's setting.
select plan(16);

select hasnt_trigger('eventstore', 'events', 'events_check_log_order', 'no per-statement trigger on appends');
select lives_ok($$select eventstore.append_event('order-1', -1, 'Placed', '{}')$$, 'appends work in a normal cluster');
select is(current_setting('eventstore.log_offset', true), '0',
          'the first append of a session checks the frame and keeps its offset (0 here)');
select is((select xid_offset from eventstore.log_frame), 0::bigint, 'the cluster that wrote the events has offset 0');

-- What a restore from an older cluster leaves behind: events recorded with transaction
-- ids far ahead of this cluster's, committed but not numbered at dump time, and a
-- position sequence behind the stored positions (as logical replication leaves it).
select eventstore.number_log();
select set_config('eventstore.permit_event_change', 'on', false);
insert into eventstore.events (global_position, stream_id, version, event_id, event_type, data, transaction_id)
overriding system value
values (1000, 'order-1', 1, gen_random_uuid(), 'Restored', '{"n":1}', '99999999990'),
       (1001, 'order-2', 0, gen_random_uuid(), 'Restored', '{"n":2}', '99999999999');
select set_config('eventstore.permit_event_change', 'off', false);
select is(eventstore.number_log(), 0::bigint,
          'before the frame is adopted, nothing from the future is numbered ...');
select set_config('eventstore.log_offset', '', false);

select lives_ok($$select eventstore.append_event('order-1', 1, 'Paid', '{"n":3}')$$,
                'a new session appends at once after the foreign events');
select lives_ok($$select eventstore.append_event('order-3', -1, 'Placed', '{"n":4}')$$,
                'to a new stream too (no collision with the restored positions)');
select ok((select xid_offset from eventstore.log_frame) > 0, 'the frame was adopted: its offset is raised');
select ok((select adopted_at is not null from eventstore.log_frame), 'and when is recorded');
select is(current_setting('eventstore.log_offset', true), (select xid_offset::text from eventstore.log_frame),
          'the session keeps the new offset');
select results_eq(
    $$select stream_id, version, log_number from eventstore.read_all()$$,
    $$values ('order-1'::text, 0::bigint, 1::bigint), ('order-1', 1, 2), ('order-2', 0, 3), ('order-1', 2, 4),
             ('order-3', 0, 5)$$,
    'the foreign events are numbered at once, in their order, and the new ones after them');
select ok((select min(global_position) from eventstore.events where event_type in ('Paid', 'Placed') and global_position > 1) > 1001,
          'new positions continue after the stored ones');
select is((select count(*) from eventstore.events e
            where e.transaction_id < (select max(p.transaction_id) from eventstore.events p
                                       where p.stream_id = e.stream_id and p.version < e.version)),
          0::bigint, 'within a stream, recorded transaction ids still never go down');

-- Numbering needs a writable READ COMMITTED transaction on the primary.
select eventstore.append_event('order-4', -1, 'Placed', '{}');
begin isolation level repeatable read;
select is(eventstore.number_log(), 0::bigint, 'REPEATABLE READ numbers nothing');
rollback;
begin read only;
select is(eventstore.number_log(), 0::bigint, 'a read-only transaction numbers nothing');
rollback;
select throws_ok($$select eventstore.number_log(0)$$, 'ES400', null, 'max_count 0 is ES400');

select * from finish();
