-- eventstore.stats: totals, per-category and per-type counts and sizes.
begin;
select plan(8);

select results_eq(
    $$select kind, name, streams, events, snapshots, payload_bytes from eventstore.stats()$$,
    $$values ('total', null::text, 0::bigint, 0::bigint, 0::bigint, 0::bigint)$$,
    'an empty store has one total row of zeros');

select eventstore.append_to_stream('order-1', -1,
    '[{"type": "Placed", "data": {"n": 1}, "metadata": {"by": "me"}}, {"type": "Paid", "data": {}}]');
select eventstore.append_to_stream('order-2', -1, '[{"type": "Placed", "data": {"n": 2}}]');
select eventstore.append_to_stream('user-1', -1, '[{"type": "Registered", "data": {}}]');
select eventstore.save_snapshot('order-1', 1, '{"paid": true}');

select results_eq(
    $$select kind, name, streams, events, snapshots from eventstore.stats()$$,
    $$values ('total', null::text, 3::bigint, 4::bigint, 1::bigint),
             ('category', 'order', 2, 3, 1),
             ('category', 'user', 1, 1, 0),
             ('type', 'Placed', 2, 2, null),
             ('type', 'Paid', 1, 1, null),
             ('type', 'Registered', 1, 1, null)$$,
    'total first, then categories and types by most events, then name');

select is(
    (select payload_bytes from eventstore.stats() where kind = 'total'),
    (select sum(pg_column_size(data) + coalesce(pg_column_size(metadata), 0))::bigint
       from eventstore.events),
    'payload_bytes of the total is the stored size of all data and metadata');

select is(
    (select sum(payload_bytes)::bigint from eventstore.stats() where kind = 'category'),
    (select payload_bytes from eventstore.stats() where kind = 'total'),
    'category payloads add up to the total');

select is(
    (select sum(payload_bytes)::bigint from eventstore.stats() where kind = 'type'),
    (select payload_bytes from eventstore.stats() where kind = 'total'),
    'type payloads add up to the total');

select cmp_ok(
    (select disk_bytes from eventstore.stats() where kind = 'total'),
    '>=',
    pg_total_relation_size('eventstore.events'),
    'disk_bytes covers at least the events table');

select is_empty(
    $$select * from eventstore.stats() where kind <> 'total' and disk_bytes is not null$$,
    'disk_bytes is only on the total row');

select has_function('eventstore', 'stats', '{}'::name[]);

select * from finish();
rollback;
