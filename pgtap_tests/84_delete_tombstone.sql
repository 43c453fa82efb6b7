-- Soft delete and tombstones (issue 18): delete_stream, then re-create through every
-- append path (versions continue); tombstone_stream, then every append path is ES410;
-- every argument error; who may call what. (What the log readers see: 85_scavenge.sql,
-- whose statements commit.)
begin;
select plan(59);

-- pgTAP keeps its state in temp tables of the session user; the roles below must write them.
grant all on all tables in schema pg_temp to public;
grant all on all sequences in schema pg_temp to public;

-- ---- delete ----
select eventstore.append_to_stream('order-1', -1, '[{"type": "A", "data": 0}, {"type": "A", "data": 1}]');
select eventstore.save_snapshot('order-1', 1, '{"s": 1}');
select throws_ok($$select eventstore.delete_stream('order-1', 0)$$, 'ES409',
                 'wrong expected version for stream ''order-1'': expected 0, actual 1', 'delete checks the expected version');
select throws_ok($$select eventstore.delete_stream('order-1', -1)$$, 'ES409', null, 'delete expecting no stream is ES409');
select is(eventstore.delete_stream('order-1', 1), 2::bigint, 'delete returns the version of its placeholder');
select is(eventstore.stream_version('order-1'), -1::bigint, 'a deleted stream is at -1');
select is_empty($$select * from eventstore.read_stream('order-1')$$, 'and reads as absent');
select is_empty($$select * from eventstore.read_stream('order-1', null, 10, true)$$, 'backward too');
select is_empty($$select * from eventstore.load_stream('order-1')$$, 'load_stream: no snapshot, no event');
select is_empty($$select * from eventstore.load_snapshot('order-1')$$, 'load_snapshot: none');
select is_empty($$select * from eventstore.list_streams() where stream_id = 'order-1'$$, 'list_streams omits it');
select is_empty($$select * from eventstore.list_streams_before(null, 100, null, null) where stream_id = 'order-1'$$,
                'list_streams_before (a shard''s page for the router) omits it too');
select is((select deleted from eventstore.get_stream_metadata('order-1')), true, 'get_stream_metadata: deleted');
select throws_ok($$select eventstore.delete_stream('order-1')$$, 'ES404', 'stream ''order-1'' does not exist',
                 'deleting a deleted stream is ES404');
select throws_ok($$select eventstore.delete_stream('order-none')$$, 'ES404', null, 'deleting an absent stream is ES404');
select throws_ok($$select eventstore.save_snapshot('order-1', 1, '{}')$$, 'ES404', null, 'no snapshot of a deleted stream');

-- appends to a deleted stream: what an absent stream accepts
select throws_ok($$select eventstore.append_event('order-1', 1, 'A', '1')$$, 'ES409',
                 'wrong expected version for stream ''order-1'': expected 1, actual -1', 'append_event at the old version: ES409, actual -1');
select throws_ok($$select eventstore.append_event('order-1', -2, 'A', '1')$$, 'ES409', null, 'append_event -2 (exists): ES409');
select throws_ok($$select eventstore.append_to_stream('order-1', -2, '[{"type": "A", "data": 1}]')$$, 'ES409', null,
                 'append_to_stream -2: ES409');
select throws_ok($$select eventstore.append_to_stream('order-1', 0, '[{"type": "A", "data": 1}]')$$, 'ES409', null,
                 'append_to_stream at version 0: ES409');
select is((select row(stream_version, first_position > 0)::text from eventstore.append_event('order-1', -1, 'A', '"again"')),
          row(3::bigint, true)::text, 'append_event -1 starts it again after the deleted versions');
select is(array(select version || ':' || data::text from eventstore.read_stream('order-1')), array['3:"again"'],
          'only the new event is readable');
select is(eventstore.stream_version('order-1'), 3::bigint, 'stream_version continues');
select is_empty($$select * from eventstore.load_snapshot('order-1')$$, 'the old snapshot stays unusable');
select throws_ok($$select eventstore.append_event('order-1', -1, 'A', '1')$$, 'ES409', null, 'now -1 is ES409 again');

-- the other paths: append_to_stream batch, NULL, the placeholder's version, ids
select eventstore.delete_stream('order-1', 3);
select is((select stream_version from eventstore.append_to_stream('order-1', -1,
              '[{"type": "A", "data": 1}, {"type": "A", "data": 2}]')),
          6::bigint, 'a batch with -1 after a delete: versions 5 and 6');
select is(eventstore.delete_stream('order-1'), 7::bigint, 'delete with any version');
select is((select stream_version from eventstore.append_event('order-1', null, 'A', '1')), 8::bigint,
          'append_event NULL after a delete');
select eventstore.delete_stream('order-1');
select is((select stream_version from eventstore.append_event('order-1', 9, 'A', '1')), 10::bigint,
          'the placeholder''s version returned by delete_stream is accepted too');
select eventstore.delete_stream('order-1');
select is((select stream_version from eventstore.append_to_stream('order-1', -1,
              format('[{"type": "A", "data": 1, "id": "%s"}]', '00000000-0000-0000-0000-00000000000a')::jsonb)),
          12::bigint, 'a batch with ids');
select is((select stream_version from eventstore.append_to_stream('order-1', -1,
              format('[{"type": "A", "data": 1, "id": "%s"}]', '00000000-0000-0000-0000-00000000000a')::jsonb)),
          12::bigint, 'and its idempotent retry');
select is(array(select version from eventstore.read_stream('order-1')), array[12]::bigint[],
          'old and new events never share a version');
select is((select version from eventstore.list_streams() where stream_id = 'order-1'), 12::bigint,
          'list_streams lists it again');

-- ---- tombstone ----
select eventstore.append_event('cart-1', -1, 'A', '1');
select throws_ok($$select eventstore.tombstone_stream('cart-1', 5)$$, 'ES409', null, 'tombstone checks the expected version');
select is(eventstore.tombstone_stream('cart-1', 0), 1::bigint, 'tombstone returns its version');
select throws_ok($$select eventstore.append_event('cart-1', -1, 'A', '1')$$, 'ES410',
                 'stream ''cart-1'' is tombstoned: it can never be written or read again', 'append_event -1: ES410');
select throws_ok($$select eventstore.append_event('cart-1', 0, 'A', '1')$$, 'ES410', null, 'append_event at the last version: ES410');
select throws_ok($$select eventstore.append_event('cart-1', 1, 'A', '1')$$, 'ES410', null,
                 'append_event at the tombstone''s version: ES410');
select throws_ok($$select eventstore.append_event('cart-1', null, 'A', '1')$$, 'ES410', null, 'append_event NULL: ES410');
select throws_ok($$select eventstore.append_event('cart-1', -2, 'A', '1')$$, 'ES410', null, 'append_event -2: ES410');
select throws_ok($$select eventstore.append_to_stream('cart-1', null, '[{"type": "A", "data": 1}, {"type": "B", "data": 2}]')$$,
                 'ES410', null, 'append_to_stream batch: ES410');
select throws_ok($$select eventstore.append_to_stream('cart-1', 1, '[{"type": "A", "data": 1}]')$$, 'ES410', null,
                 'append_to_stream at the tombstone''s version: ES410');
select throws_ok($$select eventstore.read_stream('cart-1')$$, 'ES410', null, 'read_stream: ES410 (deleted, not absent)');
select throws_ok($$select eventstore.load_stream('cart-1')$$, 'ES410', null, 'load_stream: ES410');
select throws_ok($$select eventstore.stream_version('cart-1')$$, 'ES410', null, 'stream_version: ES410');
select throws_ok($$select eventstore.set_stream_metadata('cart-1', '{}')$$, 'ES410', null, 'set_stream_metadata: ES410');
select throws_ok($$select eventstore.delete_stream('cart-1')$$, 'ES410', null, 'delete: ES410');
select throws_ok($$select eventstore.tombstone_stream('cart-1')$$, 'ES410', null, 'a second tombstone: ES410');
select is((select tombstoned from eventstore.get_stream_metadata('cart-1')), true, 'get_stream_metadata shows it');
select is(eventstore.tombstone_stream('never-1', -1), 0::bigint, 'an absent stream can be tombstoned');
select throws_ok($$select eventstore.append_event('never-1', -1, 'A', '1')$$, 'ES410', null, 'and never created');

-- ---- argument errors ----
select throws_ok($$select eventstore.delete_stream('', null)$$, 'ES400', null, 'delete: invalid stream id');
select throws_ok($$select eventstore.tombstone_stream(null, null)$$, 'ES400', null, 'tombstone: NULL stream id');
select throws_ok($$select eventstore.delete_stream('order-1', -3)$$, 'ES400', null, 'delete: expected version below -2');

-- ---- privileges: writers set metadata and delete; tombstones and scavenging are not theirs ----
select eventstore.append_event('priv-1', -1, 'A', '1');
set role eventstore_writer;
select lives_ok($$select eventstore.set_stream_metadata('priv-1', '{"max_count": 5}')$$, 'writer may set metadata');
select lives_ok($$select eventstore.delete_stream('priv-1')$$, 'writer may delete');
select throws_ok($$select eventstore.tombstone_stream('priv-1')$$, '42501', null, 'writer cannot tombstone');
select throws_ok($$select eventstore.scavenge()$$, '42501', null, 'writer cannot scavenge');
reset role;
set role eventstore_reader;
select lives_ok($$select eventstore.get_stream_metadata('priv-1')$$, 'reader may get metadata');
select throws_ok($$select eventstore.set_stream_metadata('priv-1', '{}')$$, '42501', null, 'reader cannot set metadata');
select throws_ok($$select eventstore.delete_stream('priv-1')$$, '42501', null, 'reader cannot delete');
reset role;

select * from finish();
rollback;
