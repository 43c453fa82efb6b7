-- eventstore.list_streams: newest first, category filter, paging with after, errors.
begin;
select plan(10);

select eventstore.append_to_stream('order-1', -1, '[{"type": "Placed", "data": {}}]');
select eventstore.append_to_stream('order-2', -1, '[{"type": "Placed", "data": {}}, {"type": "Paid", "data": {}}]');
select eventstore.append_to_stream('user-1', -1, '[{"type": "Registered", "data": {}}]');
select eventstore.append_to_stream('solo', -1, '[{"type": "Started", "data": {}}]');
-- One transaction gives every stream the same now(): spread the creation times so the
-- order under test is the creation order, not only the tie-break on stream_id.
set local eventstore.permit_event_change = on;
update eventstore.events e
   set recorded_at = '2026-01-01'::timestamptz + (x.n || ' minutes')::interval
  from (values ('order-1', 1), ('order-2', 2), ('user-1', 3), ('solo', 4)) as x(id, n)
 where e.stream_id = x.id;

select results_eq(
    $$select stream_id, version from eventstore.list_streams()$$,
    $$values ('solo', 0::bigint), ('user-1', 0::bigint), ('order-2', 1::bigint), ('order-1', 0::bigint)$$,
    'every stream, newest first, with its version');

select results_eq(
    $$select stream_id from eventstore.list_streams('order')$$,
    $$values ('order-2'), ('order-1')$$,
    'a category keeps only its streams');

select results_eq(
    $$select stream_id from eventstore.list_streams(max_count => 2)$$,
    $$values ('solo'), ('user-1')$$,
    'max_count limits the page');

select results_eq(
    $$select stream_id from eventstore.list_streams(max_count => 2, after => 'user-1')$$,
    $$values ('order-2'), ('order-1')$$,
    'after continues with the streams after the given one');

select is_empty(
    $$select * from eventstore.list_streams(after => 'order-1')$$,
    'after the oldest stream there is nothing');

select eventstore.append_to_stream('order-3', -1, '[{"type": "Placed", "data": {}}]');
select results_eq(
    $$select stream_id from eventstore.list_streams(max_count => 2, after => 'user-1')$$,
    $$values ('order-2'), ('order-1')$$,
    'a stream created during paging does not shift later pages');

update eventstore.events set recorded_at = '2026-01-01' where stream_id in ('order-1', 'order-2') and version = 0;
select results_eq(
    $$select stream_id from eventstore.list_streams('order', after => 'order-2')$$,
    $$values ('order-1')$$,
    'equal creation times page by stream_id descending');

select throws_ok(
    $$select * from eventstore.list_streams(max_count => 0)$$,
    'ES400', null, 'max_count below 1 is ES400');

select throws_ok(
    $$select * from eventstore.list_streams(after => 'nope')$$,
    'ES404', 'stream ''nope'' does not exist', 'after must name an existing stream');

select is_empty(
    $$select * from eventstore.list_streams('invoice')$$,
    'a category without streams lists nothing');

select * from finish();
rollback;
