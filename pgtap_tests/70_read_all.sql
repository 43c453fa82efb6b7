-- eventstore.read_all and read_category in one session: log numbers, order, cursor,
-- filters, limits, rolled-back transactions and the recorded transaction id. The
-- statements commit (no enclosing transaction) because only events of ended transactions
-- are numbered. Races between sessions are in tests/test_global_log.py.
select plan(33);

select is_empty($$select * from eventstore.read_all()$$, 'an empty log reads as no rows');

select eventstore.append_to_stream('order-1', -1, '[{"type":"OrderPlaced","data":{"n":1}}]');
select eventstore.append_to_stream('order-2', -1, '[{"type":"OrderPlaced","data":{"n":2}},{"type":"OrderShipped","data":{"n":3}}]');
select eventstore.append_to_stream('cart-1', -1, '[{"type":"ItemAdded","data":{"n":4}}]');
begin;
select eventstore.append_to_stream('order-3', -1, '[{"type":"OrderPlaced","data":{"n":99}}]');
rollback;
select eventstore.append_to_stream('order-1', 0, '[{"type":"OrderShipped","data":{"n":5}}]');

select results_eq(
    $$select (data ->> 'n')::int from eventstore.read_all()$$,
    $$values (1), (2), (3), (4), (5)$$,
    'read_all(0) returns every committed event once, in commit order, none of the rolled-back transaction');

select results_eq(
    $$select log_number from eventstore.read_all()$$,
    $$values (1::bigint), (2), (3), (4), (5)$$,
    'log numbers are dense: 1, 2, 3, ... in log order');

select results_eq(
    $$select stream_id, version from eventstore.read_all() where stream_id = 'order-1'$$,
    $$values ('order-1'::text, 0::bigint), ('order-1', 1)$$,
    'a stream''s events come in version order');

select results_eq(
    $$select (data ->> 'n')::int from eventstore.read_all(0, 2)$$,
    $$values (1), (2)$$,
    'max_count limits the page');

select results_eq(
    $$select (data ->> 'n')::int
        from eventstore.read_all((select max(log_number) from eventstore.read_all(0, 2)), 10)$$,
    $$values (3), (4), (5)$$,
    'a reader continues after the log number of the last event it was given');

select is_empty($$select * from eventstore.read_all(5)$$, 'after the last event there is nothing');
select is_empty($$select * from eventstore.read_all(41)$$,
                'any integer is a valid bound: one above the newest number reads nothing yet');
select results_eq($$select log_number from eventstore.read_all(-7, 1)$$, $$values (1::bigint)$$,
                  'a bound below 1 reads from the start');
select is(eventstore.log_head(), 5::bigint, 'log_head is the newest log number');

select results_eq(
    $$select (data ->> 'n')::int from eventstore.read_all(0, 100, array['OrderShipped'])$$,
    $$values (3), (5)$$,
    'event_types keeps only those types');

select results_eq(
    $$select (data ->> 'n')::int from eventstore.read_all(0, 100, null, 'cart')$$,
    $$values (4)$$,
    'category keeps only streams of that category');

select results_eq(
    $$select (data ->> 'n')::int from eventstore.read_all(0, 100, array['OrderShipped', 'ItemAdded'], 'order')$$,
    $$values (3), (5)$$,
    'event_types and category together keep the events matching both');

select results_eq(
    $$select (data ->> 'n')::int from eventstore.read_category('order')$$,
    $$values (1), (2), (3), (5)$$,
    'read_category returns the category in log order');

select results_eq(
    $$select (data ->> 'n')::int from eventstore.read_category('order', 0, 100, null, null, array['OrderPlaced'])$$,
    $$values (1), (2)$$,
    'read_category filters by event type too');

select results_eq(
    $$select (data ->> 'n')::int
        from eventstore.read_category('order', (select l.log_number from eventstore.read_all() l where l.data ->> 'n' = '4'))$$,
    $$values (5)$$,
    'a category reader may continue from any log number, even one of another category');

select results_eq(
    $$select log_number from eventstore.read_category('order')$$,
    $$select log_number from eventstore.read_all() where stream_id like 'order-%'$$,
    'a category reader gets the events'' numbers in the one log');

select is(
    (select count(*) from eventstore.events e
      where e.transaction_id < (select max(p.transaction_id) from eventstore.events p
                                 where p.stream_id = e.stream_id and p.version < e.version)),
    0::bigint,
    'within a stream, recorded transaction ids never go down');

-- read_all numbers a page's events by their rank after the cursor when the range has one
-- event per number, and reads them through the log otherwise: both must give the log's
-- numbers, for every cursor and page size, also when an event of the range is gone (as
-- scavenge removes one; here without lifecycle rules, which would take the log path).
create function pg_temp.pages_differing_from_the_log() returns setof text language sql as $pages$
    select format('after %s, max_count %s', a.after, n.n)
      from generate_series(-1, (select max(log_number) + 1 from eventstore.log)) a(after),
           generate_series(1, 4) n(n)
     where array(select r::text from eventstore.read_all(a.after, n.n) r)
           is distinct from
           array(select row(l.log_number, e.stream_id, e.version, e.global_position, e.event_id, e.event_type,
                            e.data, e.metadata, e.recorded_at)::eventstore.log_event::text
                   from eventstore.log l
                   join eventstore.events e on e.global_position = l.global_position
                  where l.log_number > a.after
                  order by l.log_number
                  limit n.n)
$pages$;
select is_empty($$select * from pg_temp.pages_differing_from_the_log()$$,
                'every page of read_all carries the log''s numbers');
begin;
set local eventstore.permit_event_change = on;
delete from eventstore.events e
 where e.global_position = (select l.global_position from eventstore.log l where l.log_number = 2);
set local eventstore.permit_event_change = off;
select is_empty($$select * from pg_temp.pages_differing_from_the_log()$$,
                'so does every page when an event of the log is gone, its number skipped');
rollback;

-- A stream whose last event is recorded with a transaction id ahead of the appending
-- transaction's own (as when a newer transaction committed there first, while this one
-- already had its id; here the UPDATE gives it one): the append records the stream's value.
begin;
set local eventstore.permit_event_change = on;
update eventstore.events
   set transaction_id = (pg_current_xact_id()::text::bigint + 1000000)::text::xid8
 where stream_id = 'cart-1' and version = 0;
set local eventstore.permit_event_change = off;
select eventstore.append_to_stream('cart-1', 0, '[{"type":"ItemAdded","data":{"n":6}}]');
commit;
select is(
    (select e.transaction_id from eventstore.events e where e.stream_id = 'cart-1' and e.version = 1),
    (select e.transaction_id from eventstore.events e where e.stream_id = 'cart-1' and e.version = 0),
    'an append records greatest(own transaction id, the stream''s last recorded id)');
select ok(
    (select e.transaction_id from eventstore.events e where e.stream_id = 'cart-1' and e.version = 1)
    > pg_current_xact_id(),
    'here that is the stream''s value, above the appending transaction''s own id');
select is_empty(
    $$select * from eventstore.read_all(5)$$,
    'an event whose recorded id is not below the snapshot''s xmin is not numbered, nor returned, yet');
select is(eventstore.number_log(), 0::bigint, 'number_log finds nothing readable to number');

select throws_ok($$select * from eventstore.read_all(null)$$, 'ES400', null, 'a NULL cursor is ES400');
select throws_ok($$select * from eventstore.read_all(2, 10, after_event_id => gen_random_uuid())$$, 'ES419', null,
                 'a cursor whose log number names another event is ES419');
select throws_ok($$select * from eventstore.read_all(1000000, 10, after_event_id => gen_random_uuid())$$, 'ES419', null,
                 'so is a cursor naming an event beyond the head (a log that lost its last events)');
select lives_ok(
    $$select * from eventstore.read_all(2, 10, after_event_id => (select event_id from eventstore.read_all(1, 1)))$$,
    'a cursor with the id of the event its number names reads on');
select throws_ok($$select * from eventstore.read_all(0, 0)$$, 'ES400', null, 'max_count 0 is ES400');
select throws_ok($$select * from eventstore.read_all(0, 100001)$$, 'ES400', null, 'max_count above 100000 is ES400');
select throws_ok($$select * from eventstore.read_category('')$$, 'ES400', null, 'an empty category is ES400');
select throws_ok($$select * from eventstore.read_category('order-1')$$, 'ES400', null, 'a category with ''-'' (a stream id) is ES400');
select throws_ok($$select * from eventstore.read_category(null)$$, 'ES400', null, 'a NULL category is ES400');

select * from finish();
