-- Stream metadata (issue 18): set_stream_metadata / get_stream_metadata with optimistic
-- concurrency, every argument error, each reserved key, and every reader honouring it at
-- once: read_stream, load_stream, load_snapshot, read_all, read_category. Statements
-- commit (no enclosing transaction): the log readers number only ended transactions.
select plan(50);

-- ---- set and get ----
select is((select row(metadata, metadata_version, deleted, tombstoned, scavenged_before)::text
             from eventstore.get_stream_metadata('order-1')),
          row('{}'::jsonb, -1::bigint, false, false, 0::bigint)::text,
          'a stream without metadata: {}, version -1, not deleted, not tombstoned');
select is(eventstore.set_stream_metadata('order-1', '{"owner": "ann"}', -1), 0::bigint,
          'the first metadata gets version 0 (expected -1: none yet)');
select is((select metadata from eventstore.get_stream_metadata('order-1')), '{"owner": "ann"}'::jsonb,
          'any key that is not reserved is stored as given');
select is(eventstore.set_stream_metadata('order-1', '{"owner": "bob"}', 0), 1::bigint, 'expected 0: version 1');
select is(eventstore.set_stream_metadata('order-1', '{"owner": "cy"}'), 2::bigint, 'expected NULL: any version');
select throws_ok($$select eventstore.set_stream_metadata('order-1', '{}', 1)$$, 'ES409',
                 'wrong expected metadata version for stream ''order-1'': expected 1, actual 2',
                 'a stale metadata version is ES409');
select throws_ok($$select eventstore.set_stream_metadata('order-1', '{}', -1)$$, 'ES409', null,
                 'expected -1 when metadata exists is ES409');
select throws_ok($$select eventstore.set_stream_metadata('order-9', '{}', 0)$$, 'ES409', null,
                 'expected 0 when none exists is ES409');
select is((select metadata_version from eventstore.get_stream_metadata('order-9')), -1::bigint,
          'a refused first set stores nothing');

-- ---- argument errors ----
select throws_ok($$select eventstore.set_stream_metadata('', '{}')$$, 'ES400', null, 'an invalid stream id is ES400');
select throws_ok($$select eventstore.get_stream_metadata(null)$$, 'ES400', null, 'get: a NULL stream id is ES400');
select throws_ok($$select eventstore.set_stream_metadata('order-1', null)$$, 'ES400',
                 'stream metadata must be a JSON object, got NULL', 'NULL metadata is ES400');
select throws_ok($$select eventstore.set_stream_metadata('order-1', '[1]')$$, 'ES400',
                 'stream metadata must be a JSON object, got array', 'an array is ES400');
select throws_ok($$select eventstore.set_stream_metadata('order-1', '{}', -2)$$, 'ES400',
                 'expected metadata version must be NULL, -1 or >= 0, got -2', 'an expected version below -1 is ES400');
select throws_ok($$select eventstore.set_stream_metadata('order-1', '{"max_count": 0}')$$, 'ES400',
                 'stream metadata key max_count must be an integer >= 1, got 0', 'max_count 0');
select throws_ok($$select eventstore.set_stream_metadata('order-1', '{"max_count": 2.5}')$$, 'ES400', null, 'max_count 2.5');
select throws_ok($$select eventstore.set_stream_metadata('order-1', '{"max_count": "3"}')$$, 'ES400', null, 'max_count "3"');
select throws_ok($$select eventstore.set_stream_metadata('order-1', '{"max_count": 1e30}')$$, 'ES400', null,
                 'max_count above the largest bigint');
select throws_ok($$select eventstore.set_stream_metadata('order-1', '{"truncate_before": -1}')$$, 'ES400',
                 'stream metadata key truncate_before must be an integer >= 0, got -1', 'truncate_before -1');
select throws_ok($$select eventstore.set_stream_metadata('order-1', '{"truncate_before": true}')$$, 'ES400', null,
                 'truncate_before true');
select throws_ok($$select eventstore.set_stream_metadata('order-1', '{"max_age": "soon"}')$$, 'ES400',
                 'stream metadata key max_age must be an interval above zero as a string, got "soon"', 'max_age "soon"');
select throws_ok($$select eventstore.set_stream_metadata('order-1', '{"max_age": 60}')$$, 'ES400', null,
                 'max_age as a number');
select throws_ok($$select eventstore.set_stream_metadata('order-1', '{"max_age": "-1 day"}')$$, 'ES400', null,
                 'a negative max_age');
select throws_ok($$select eventstore.set_stream_metadata('order-1', '{"max_age": "0 seconds"}')$$, 'ES400', null,
                 'a zero max_age');
select is((select metadata from eventstore.get_stream_metadata('order-1')), '{"owner": "cy"}'::jsonb,
          'refused metadata changed nothing');
select lives_ok($$select eventstore.set_stream_metadata('order-1', '{"max_count": null, "max_age": "P1D", "truncate_before": 0}')$$,
                'null leaves a key unset; ISO 8601 intervals are accepted');

-- ---- truncate_before ----
select eventstore.append_to_stream('cart-1', -1,
    '[{"type": "A", "data": 0}, {"type": "A", "data": 1}, {"type": "A", "data": 2}, {"type": "A", "data": 3}]');
select eventstore.save_snapshot('cart-1', 1, '{"state": 1}');
select eventstore.set_stream_metadata('cart-1', '{"truncate_before": 2}');
select is(array(select version from eventstore.read_stream('cart-1')), array[2, 3]::bigint[],
          'truncate_before 2: read_stream starts at version 2');
select is(array(select version from eventstore.read_stream('cart-1', null, 10, true)), array[3, 2]::bigint[],
          'backward too');
select is(array(select version from eventstore.read_stream('cart-1', 0, 1)), array[2]::bigint[],
          'a page from 0 starts at the first readable version');
select is(array(select kind || version from eventstore.load_stream('cart-1')), array['event2', 'event3'],
          'load_stream ignores the snapshot older than the first readable version');
select is_empty($$select * from eventstore.load_snapshot('cart-1')$$, 'load_snapshot ignores it too');
select is(eventstore.stream_version('cart-1'), 3::bigint, 'stream_version is still the last version');
select eventstore.save_snapshot('cart-1', 2, '{"state": 2}');
select is(array(select kind || version from eventstore.load_stream('cart-1')), array['snapshot2', 'event3'],
          'a snapshot at the first readable version is used: how truncated history is rebuilt');
select is((select version from eventstore.load_snapshot('cart-1')), 2::bigint, 'load_snapshot returns it');
select is(array(select version from eventstore.read_all() where stream_id = 'cart-1'), array[2, 3]::bigint[],
          'read_all skips the truncated events');
select is(array(select version from eventstore.read_category('cart') where stream_id = 'cart-1'), array[2, 3]::bigint[],
          'read_category skips them too');
select is(array(select version from eventstore.read_all(0, 1000, null, 'cart')), array[2, 3]::bigint[],
          'read_all with a category too');
select eventstore.set_stream_metadata('cart-1', '{}');
select is(array(select version from eventstore.read_stream('cart-1')), array[0, 1, 2, 3]::bigint[],
          'clearing the metadata makes unscavenged events readable again, at once');

-- ---- max_count ----
select eventstore.set_stream_metadata('cart-1', '{"max_count": 3}');
select is(array(select version from eventstore.read_stream('cart-1')), array[1, 2, 3]::bigint[],
          'max_count 3: the newest three versions');
select eventstore.append_event('cart-1', 3, 'A', '4');
select is(array(select version from eventstore.read_stream('cart-1')), array[2, 3, 4]::bigint[],
          'an append moves the window');
select is(array(select version from eventstore.read_all() where stream_id = 'cart-1'), array[2, 3, 4]::bigint[],
          'read_all applies the same window');
select is(array(select version from eventstore.load_stream('cart-1')), array[2, 3, 4]::bigint[],
          'load_stream: the snapshot at 2 is usable, then 3 and 4');
select eventstore.set_stream_metadata('cart-1', '{"max_count": 1, "truncate_before": 1}');
select is(array(select version from eventstore.read_stream('cart-1')), array[4]::bigint[],
          'the rules combine: the most restrictive wins');

-- ---- max_age ----
-- Events recorded two days ago, inserted as the table owner (appends record now()).
insert into eventstore.events (stream_id, version, event_id, event_type, data, recorded_at)
values ('sensor-1', 0, gen_random_uuid(), 'T', '1', now() - interval '2 days'),
       ('sensor-1', 1, gen_random_uuid(), 'T', '2', now() - interval '2 days');
select eventstore.append_event('sensor-1', 1, 'T', '3');
select eventstore.save_snapshot('sensor-1', 2, '{"t": 3}');
update eventstore.snapshots set recorded_at = now() - interval '2 days' where stream_id = 'sensor-1';
select eventstore.set_stream_metadata('sensor-1', '{"max_age": "1 day"}');
select is(array(select version from eventstore.read_stream('sensor-1')), array[2]::bigint[],
          'max_age 1 day: events recorded two days ago are not readable');
select is(array(select kind || version from eventstore.load_stream('sensor-1')), array['event2'],
          'a snapshot saved before max_age is ignored by load_stream');
select is_empty($$select * from eventstore.load_snapshot('sensor-1')$$, 'and by load_snapshot');
select is(array(select version from eventstore.read_all() where stream_id = 'sensor-1'), array[2]::bigint[],
          'read_all skips expired events');
select eventstore.set_stream_metadata('sensor-1', '{"max_age": "3 days"}');
select is(array(select version from eventstore.read_stream('sensor-1')), array[0, 1, 2]::bigint[],
          'max_age 3 days: all readable again');

-- ---- other streams are untouched ----
select eventstore.append_event('other-1', -1, 'A', '{}');
select is(array(select version from eventstore.read_stream('other-1')), array[0]::bigint[], 'streams without metadata read as before');
select is((select count(*)::integer from eventstore.read_all() where stream_id = 'other-1'), 1, 'and in the log');

select * from finish();
