-- save_snapshot, load_snapshot and load_stream: the newer version wins, the version
-- bounds, ES404 for an absent stream, and loading a snapshot plus the later events in
-- one call.
begin;
select plan(34);

select eventstore.append_to_stream('cart-1', -1,
    (select jsonb_agg(jsonb_build_object('type', 'Added', 'data', i) order by i) from generate_series(0, 5) i));

-- No snapshot yet.
select is_empty($$select * from eventstore.load_snapshot('cart-1')$$, 'load_snapshot without a snapshot: no row');
select is_empty($$select * from eventstore.load_snapshot('cart-absent')$$, 'load_snapshot of an absent stream: no row');
select results_eq($$select kind, version, data from eventstore.load_stream('cart-1')$$,
                  $$select 'event'::text, v::bigint, to_jsonb(v) from generate_series(0, 5) v$$,
                  'load_stream without a snapshot returns every event');

-- Saving.
select throws_ok($$select eventstore.save_snapshot('cart-absent', 0, '{}')$$,
                 'ES404', 'stream ''cart-absent'' does not exist', 'a snapshot of an absent stream is ES404');
select throws_ok($$select eventstore.save_snapshot('cart-1', 6, '{}')$$,
                 'ES400', 'snapshot version must be between 0 and 5 (the stream''s version), got 6',
                 'a snapshot beyond the stream''s version is ES400');
select is(eventstore.save_snapshot('cart-1', 2, '{"sum": 3}'), true, 'a first snapshot is stored');
select results_eq($$select version, state, schema_version from eventstore.load_snapshot('cart-1')$$,
                  $$values (2::bigint, '{"sum": 3}'::jsonb, 1)$$, 'load_snapshot returns it with schema_version 1');
select is((select recorded_at from eventstore.load_snapshot('cart-1')), now(), 'recorded_at is set');
select is(eventstore.save_snapshot('cart-1', 1, '{"sum": 1}'), false, 'an older snapshot returns false');
select is(eventstore.save_snapshot('cart-1', 2, '{"sum": 999}'), false, 'an equal version returns false');
select results_eq($$select version, state from eventstore.load_snapshot('cart-1')$$,
                  $$values (2::bigint, '{"sum": 3}'::jsonb)$$, 'the older and equal snapshots did not overwrite');
select is(eventstore.save_snapshot('cart-1', 4, '{"sum": 10}', 2), true, 'a newer snapshot returns true');
select results_eq($$select version, state, schema_version from eventstore.load_snapshot('cart-1')$$,
                  $$values (4::bigint, '{"sum": 10}'::jsonb, 2)$$, 'the newer snapshot replaced it');
select is((select count(*) from eventstore.snapshots where stream_id = 'cart-1'), 1::bigint,
          'a stream has one snapshot row');
select is(eventstore.save_snapshot('cart-1', 3, '{"sum": 6}', 3), false,
          'an older snapshot of another schema version does not overwrite either');

-- load_stream with a snapshot.
select results_eq(
    $$select kind, version, data, snapshot_schema_version from eventstore.load_stream('cart-1')$$,
    $$values ('snapshot'::text, 4::bigint, '{"sum": 10}'::jsonb, 2), ('event', 5, '5', null)$$,
    'load_stream: the snapshot, then the events after it');
select results_eq(
    $$select kind, version from eventstore.load_stream('cart-1', 2)$$,
    $$values ('snapshot'::text, 4::bigint), ('event', 5)$$,
    'load_stream with the snapshot''s schema version uses it');
select results_eq(
    $$select kind, version from eventstore.load_stream('cart-1', 1)$$,
    $$select 'event'::text, v::bigint from generate_series(0, 5) v$$,
    'load_stream with another schema version ignores the snapshot and returns every event');
select results_eq(
    $$select global_position, event_id, event_type collate "default", metadata, recorded_at
        from eventstore.load_stream('cart-1') where kind = 'event'$$,
    $$select global_position, event_id, event_type collate "default", metadata, recorded_at
        from eventstore.read_stream('cart-1', 5)$$,
    'event rows carry the recorded_event columns');
select results_eq(
    $$select global_position, event_id, event_type, metadata, recorded_at = now()
        from eventstore.load_stream('cart-1') where kind = 'snapshot'$$,
    $$values (null::bigint, null::uuid, null::text, null::jsonb, true)$$,
    'the snapshot row has no event columns, and its recorded_at');
select is((select version from eventstore.load_stream('cart-1') order by version desc limit 1),
          eventstore.stream_version('cart-1'), 'the last row''s version is the stream''s version');
select is_empty($$select * from eventstore.load_stream('cart-absent')$$, 'load_stream of an absent stream: no rows');
select is_empty($$select * from eventstore.load_stream('cart-absent', 1)$$,
                'load_stream of an absent stream with a schema version: no rows');

-- A snapshot at the stream's current version: load_stream returns just the snapshot.
select is(eventstore.save_snapshot('cart-1', 5, '{"sum": 15}', 2), true, 'a snapshot at the current version');
select results_eq($$select kind, version, data from eventstore.load_stream('cart-1', 2)$$,
                  $$values ('snapshot'::text, 5::bigint, '{"sum": 15}'::jsonb)$$,
                  'load_stream at the snapshot''s version returns only the snapshot');
select eventstore.append_event('cart-1', 5, 'Added', '6');
select results_eq($$select kind, version from eventstore.load_stream('cart-1')$$,
                  $$values ('snapshot'::text, 5::bigint), ('event', 6)$$,
                  'a new event shows after the snapshot');

-- Snapshot states are any JSON, including JSON null; version 0 is allowed.
select eventstore.append_event('cart-2', -1, 'Added', '1');
select is(eventstore.save_snapshot('cart-2', 0, 'null'), true, 'a JSON null state at version 0');
select results_eq($$select kind, data from eventstore.load_stream('cart-2')$$,
                  $$values ('snapshot'::text, 'null'::jsonb)$$, 'load_stream returns the JSON null state');
select is(eventstore.save_snapshot(stream_id => 'cart-2', version => 0, state => '[1, 2]', schema_version => 7),
          false, 'named arguments; the same version again is false');

-- Snapshots of one stream do not leak into another.
select is_empty($$select * from eventstore.load_snapshot('cart-3')$$, 'another stream has no snapshot');
select eventstore.append_event('cart-3', -1, 'Added', '1');
select results_eq($$select kind from eventstore.load_stream('cart-3')$$, $$values ('event'::text)$$,
                  'load_stream of a stream without a snapshot');

-- A rejected save changes nothing.
select throws_ok($$select eventstore.save_snapshot('cart-2', 1, '{}')$$, 'ES400', null,
                 'a version beyond the stream is ES400');
select throws_ok($$select eventstore.save_snapshot('cart-4', 0, '{}')$$, 'ES404', null,
                 'a snapshot for a stream that never existed is ES404');
select results_eq($$select stream_id collate "default", version, state from eventstore.snapshots order by stream_id$$,
                  $$values ('cart-1'::text, 5::bigint, '{"sum": 15}'::jsonb), ('cart-2', 0, 'null')$$,
                  'the snapshots table holds only the accepted snapshots');

select * from finish();
rollback;
