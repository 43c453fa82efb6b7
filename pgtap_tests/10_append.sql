-- append_to_stream and append_event: what a successful append stores and returns,
-- gapless 0-based versions, global positions, categories, and that a failed call writes
-- nothing.
begin;
select plan(41);

-- A first batch creates the stream at versions 0 and 1.
create temp table first_append as
select * from eventstore.append_to_stream('order-1', -1,
    '[{"type": "OrderPlaced", "data": {"total": 100}, "metadata": {"user": "ann"}},
      {"type": "OrderPaid", "data": 42, "id": "5f0c1d9e-8a4b-4c3e-9f1a-2b3c4d5e6f70"}]');

select is((select stream_version from first_append), 1::bigint, 'two events on a new stream: version 1');
select is((select last_position - first_position from first_append), 1::bigint,
          'first and last position of a two-event batch are consecutive');
select is((select first_position from first_append),
          (select min(global_position) from eventstore.events where stream_id = 'order-1'),
          'first_position is the position of the first event');
select is((select last_position from first_append),
          (select max(global_position) from eventstore.events where stream_id = 'order-1'),
          'last_position is the position of the last event');
select results_eq(
    $$select version, event_type collate "default", data from eventstore.events where stream_id = 'order-1' order by version$$,
    $$values (0::bigint, 'OrderPlaced'::text, '{"total": 100}'::jsonb), (1, 'OrderPaid', '42')$$,
    'events are stored at versions 0 and 1 with their type and data, in batch order');
select results_eq(
    $$select global_position from eventstore.events where stream_id = 'order-1' order by version$$,
    $$select global_position from eventstore.events where stream_id = 'order-1' order by global_position$$,
    'global positions increase with versions inside a batch');
select is((select metadata from eventstore.events where stream_id = 'order-1' and version = 0),
          '{"user": "ann"}'::jsonb, 'metadata is stored');
select is((select metadata from eventstore.events where stream_id = 'order-1' and version = 1),
          null, 'absent metadata is stored as NULL');
select is((select event_id from eventstore.events where stream_id = 'order-1' and version = 1),
          '5f0c1d9e-8a4b-4c3e-9f1a-2b3c4d5e6f70'::uuid, 'a given event id is kept');
select isnt((select event_id from eventstore.events where stream_id = 'order-1' and version = 0),
            null, 'an event without id gets a generated one');
select is((select count(distinct transaction_id) from eventstore.events where stream_id = 'order-1'),
          1::bigint, 'one append records one transaction id');
select is((select transaction_id from eventstore.events where stream_id = 'order-1' limit 1),
          pg_current_xact_id(), 'the transaction id is the writing transaction''s');
select is((select recorded_at from eventstore.events where stream_id = 'order-1' limit 1),
          now(), 'recorded_at is the transaction''s timestamp');
select is(eventstore.stream_version('order-1'), 1::bigint, 'stream_version after the first batch');
select hasnt_table('eventstore', 'streams', 'a stream is its events: it has no row of its own');

-- Later appends continue the versions without gaps.
select results_eq(
    $$select stream_version, last_position - first_position
        from eventstore.append_to_stream('order-1', 1,
             '[{"type": "A", "data": null}, {"type": "B", "data": []}, {"type": "C", "data": "x"}]')$$,
    $$values (4::bigint, 2::bigint)$$,
    'a three-event batch at version 1 brings the stream to version 4');
select results_eq(
    $$select version from eventstore.events where stream_id = 'order-1' order by version$$,
    $$select generate_series(0::bigint, 4)$$,
    'versions are gapless from 0');
select is((select data from eventstore.events where stream_id = 'order-1' and version = 2),
          'null'::jsonb, 'JSON null data is stored as JSON null');
create temp table later_append as
select * from eventstore.append_to_stream('order-1', null, '[{"type": "D", "data": {}}]');
select is((select first_position from later_append),
          (select max(global_position) from eventstore.events),
          'a later append gets the newest global position');
select is((select first_position > (select last_position from first_append)
             from eventstore.append_to_stream('order-2', null, '[{"type": "X", "data": 1}]')),
          true, 'positions keep increasing across streams');
select is(eventstore.stream_version('order-2'), 0::bigint, 'NULL expected version creates an absent stream at 0');
select is((select stream_version from eventstore.append_to_stream('order-2', -2, '[{"type": "X", "data": 2}]')),
          1::bigint, '-2 appends to an existing stream');

-- Appends take no lock of their own (the unique index on (stream_id, version) decides
-- races; tests/test_races.py shows them): nothing advisory is held afterwards.
select is((select count(*) from pg_locks l where l.locktype = 'advisory' and l.pid = pg_backend_pid()),
          0::bigint, 'appends with and without ids hold no advisory lock');

-- Stream ids are compared exactly: case and whitespace make other streams.
select lives_ok($$select eventstore.append_to_stream('Order-1', -1, '[{"type": "A", "data": 1}]')$$,
                'stream ids are case sensitive: Order-1 is a new stream');
select lives_ok($$select eventstore.append_to_stream('order-1 ', -1, '[{"type": "A", "data": 1}]')$$,
                'a trailing space makes another stream');
select is(eventstore.stream_version('order-1'), 5::bigint, 'order-1 is untouched by its look-alikes');

-- append_event: the same semantics for one event.
select results_eq(
    $$select stream_version, first_position = last_position
        from eventstore.append_event('cart-9', -1, 'CartOpened', '{"items": 0}', '{"ip": "10.0.0.1"}',
                                     '0b9c3a8e-0d77-4e7b-8f57-3a0f0e4e2a11')$$,
    $$values (0::bigint, true)$$,
    'append_event returns version 0 and one position for a new stream');
select results_eq(
    $$select event_type collate "default", data, metadata, event_id from eventstore.events where stream_id = 'cart-9'$$,
    $$values ('CartOpened'::text, '{"items": 0}'::jsonb, '{"ip": "10.0.0.1"}'::jsonb,
              '0b9c3a8e-0d77-4e7b-8f57-3a0f0e4e2a11'::uuid)$$,
    'append_event stores type, data, metadata and id');
select is((select stream_version from eventstore.append_event('cart-9', 0, 'ItemAdded', null)),
          1::bigint, 'append_event with expected version 0');
select is((select data from eventstore.events where stream_id = 'cart-9' and version = 1),
          'null'::jsonb, 'append_event stores NULL data as JSON null');
select is((select event_id is not null and metadata is null from eventstore.events
            where stream_id = 'cart-9' and version = 1),
          true, 'append_event without id and metadata: generated id, NULL metadata');
select throws_ok($$select eventstore.append_event('cart-9', 0, 'ItemAdded', '{}')$$, 'ES409', null,
                 'append_event reports a wrong expected version as ES409');
create temp table cart_append as
select * from eventstore.append_event('cart-9', 1, 'ItemAdded', '{"sku": 2}', 'null');
select results_eq(
    $$select a.stream_version, e.version, e.metadata is null, e.transaction_id >= p.transaction_id
        from cart_append a
        join eventstore.events e on e.global_position = a.first_position
        join eventstore.events p on p.stream_id = 'cart-9' and p.version = 1$$,
    $$values (2::bigint, 2::bigint, true, true)$$,
    'append_event: the returned position is the stored row''s; JSON null metadata is stored as NULL; log order kept');

-- The category: the part before the first '-'.
select is(eventstore.category('order-123'), 'order', 'category of order-123');
select is(eventstore.category('order-123-line-4'), 'order', 'category stops at the first -');
select is(eventstore.category('singleton'), 'singleton', 'an id without - is its own category');
select has_index('eventstore', 'log', 'log_category_idx', 'per-category reads have an index (on the log)');

-- A failed call writes nothing, even when its first events were valid.
create temp table before_failure as
select (select count(*) from eventstore.events) as events,
       eventstore.stream_version('order-1') as version;
select throws_ok($$select eventstore.append_to_stream('order-1', 5,
                     '[{"type": "A", "data": 1}, {"type": "B", "data": 2}, {"data": 3}]')$$,
                 'ES400', null, 'a batch with a bad third event is rejected');
select throws_ok($$select eventstore.append_to_stream('fresh-1', null,
                     '[{"type": "A", "data": 1}, {"type": "B", "data": 2, "id": "5f0c1d9e-8a4b-4c3e-9f1a-2b3c4d5e6f70"}]')$$,
                 'ES412', null, 'a batch reusing a stored id in another stream is rejected');
select throws_ok($$select eventstore.append_to_stream('order-1', 3, '[{"type": "A", "data": 1}]')$$,
                 'ES409', null, 'a stale expected version is rejected');
select results_eq(
    $$select (select count(*) from eventstore.events),
             eventstore.stream_version('order-1'), eventstore.stream_version('fresh-1')$$,
    $$select events, version, -1::bigint from before_failure$$,
    'the failed calls wrote no event');

select * from finish();
rollback;
