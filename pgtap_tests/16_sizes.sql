-- Size limits hold for values read from a table: such a value reaches the functions as
-- stored, compressed or out of line, and the limits count its uncompressed size (the size
-- of the same value given as a literal). Nothing refused is written.
begin;
select plan(24);

select eventstore.append_to_stream('sized-1', -1, '[{"type": "A", "data": 1}]');

-- data: at most 1 MiB. A compressed one-event batch is far smaller than what it holds.
create temp table compressed_batches (name text primary key, b jsonb);
insert into compressed_batches
select 'data ' || n, jsonb_build_array(jsonb_build_object('type', 'Big', 'data', repeat('x', n)))
  from (values (5 * 1024 * 1024), (900000)) sizes(n);
select ok((select bool_and(pg_column_compression(b) is not null and pg_column_size(b) < 1048576) from compressed_batches),
          'the stored batches are compressed to less than 1 MiB');
select is(eventstore.is_plain_batch((select b from compressed_batches where name = 'data 5242880')), false,
          'is_plain_batch measures a compressed batch uncompressed');
select is(eventstore.is_plain_batch((select b from compressed_batches where name = 'data 900000')), true,
          'is_plain_batch: a compressed batch within the limits is plain');
select throws_ok($$select eventstore.append_to_stream('big-1', -1, (select b from compressed_batches where name = 'data 5242880'))$$,
                 'ES400', 'event 0 has "data" larger than 1 MiB',
                 'append_to_stream -1: 5 MiB of data in a compressed batch');
select throws_ok($$select eventstore.append_to_stream('big-1', null, (select b from compressed_batches where name = 'data 5242880'))$$,
                 'ES400', 'event 0 has "data" larger than 1 MiB',
                 'append_to_stream NULL: 5 MiB of data in a compressed batch');
select lives_ok($$select eventstore.append_to_stream('edge-3', -1, (select b from compressed_batches where name = 'data 900000'))$$,
                'append_to_stream: a compressed batch within the limits is stored');

-- An uncompressed value stored out of line reports its size without its 4-byte header.
create temp table out_of_line (name text primary key, v jsonb);
alter table out_of_line alter column v set storage external;
insert into out_of_line
select 'data ' || n, to_jsonb(repeat('x', n - pg_column_size(to_jsonb(''::text))))
  from (values (1048576), (1048577)) sizes(n)
union all
select 'metadata ' || n, jsonb_build_object('m', repeat('x', n - pg_column_size(jsonb_build_object('m', ''))))
  from (values (1048576), (1048577)) sizes(n);
select results_eq($$select name, pg_column_size(v), pg_column_size(v #> '{}'), pg_column_compression(v)
                      from out_of_line order by name$$,
                  $$values ('data 1048576', 1048572, 1048576, null::text),
                           ('data 1048577', 1048573, 1048577, null),
                           ('metadata 1048576', 1048572, 1048576, null),
                           ('metadata 1048577', 1048573, 1048577, null)$$,
                  'the out-of-line values are stored uncompressed, 4 bytes smaller than they are');
select throws_ok($$select eventstore.append_event('big-2', -1, 'A',
                                                  (select v from out_of_line where name = 'data 1048577'))$$,
                 'ES400', 'event 0 has "data" larger than 1 MiB',
                 'append_event -1: out-of-line data of 1 MiB + 1 byte');
select throws_ok($$select eventstore.append_event('sized-1', 0, 'A',
                                                  (select v from out_of_line where name = 'data 1048577'))$$,
                 'ES400', 'event 0 has "data" larger than 1 MiB',
                 'append_event n: out-of-line data of 1 MiB + 1 byte');
select throws_ok($$select eventstore.append_event('big-3', -1, 'A', '1',
                                                  (select v from out_of_line where name = 'metadata 1048577'))$$,
                 'ES400', 'event 0 has "metadata" larger than 1 MiB',
                 'append_event -1: out-of-line metadata of 1 MiB + 1 byte');
select lives_ok($$select eventstore.append_event('edge-1', -1, 'A',
                                                 (select v from out_of_line where name = 'data 1048576'),
                                                 (select v from out_of_line where name = 'metadata 1048576'))$$,
                'append_event: out-of-line data and metadata of exactly 1 MiB are valid');
select lives_ok($$select eventstore.append_to_stream('edge-2', -1,
                      jsonb_build_array(jsonb_build_object(
                          'type', 'A',
                          'data', (select v from out_of_line where name = 'data 1048576'),
                          'metadata', (select v from out_of_line where name = 'metadata 1048576'))))$$,
                'append_to_stream: the same event as a batch is valid');

-- A batch: at most 64 MiB. 68 events of 1,000,000 characters (each within its own limit)
-- compress to about 1 MiB.
create temp table compressed_large_batch (b jsonb);
insert into compressed_large_batch
select jsonb_agg(jsonb_build_object('type', 'E', 'data', repeat('z', 1000000))) from generate_series(1, 68);
select ok((select pg_column_size(b) < 4 * 1048576 from compressed_large_batch),
          'the stored 68 MB batch takes less than 4 MiB');
select throws_like($$select eventstore.append_to_stream('big-4', -1, (select b from compressed_large_batch))$$,
                   'a batch holds at most 64 MiB of JSON, got 68%',
                   'append_to_stream: a compressed batch of 68 MB');

-- Snapshot state: at most 16 MiB.
create temp table compressed_states (name text primary key, v jsonb);
insert into compressed_states
select 'state ' || n, to_jsonb(repeat('y', n - pg_column_size(to_jsonb(''::text))))
  from (values (16777216), (16777217), (17 * 1048576)) sizes(n);
select ok((select bool_and(pg_column_compression(v) is not null and pg_column_size(v) < 1048576)
             from compressed_states),
          'the stored states are compressed to less than 1 MiB');
select throws_ok($$select eventstore.save_snapshot('sized-1', 0, (select v from compressed_states where name = 'state 17825792'))$$,
                 'ES400', 'snapshot state must be at most 16 MiB, got 17825792 bytes',
                 'save_snapshot: a compressed state of 17 MiB');
select throws_ok($$select eventstore.save_snapshot('sized-1', 0, (select v from compressed_states where name = 'state 16777217'))$$,
                 'ES400', 'snapshot state must be at most 16 MiB, got 16777217 bytes',
                 'save_snapshot: a compressed state of 16 MiB + 1 byte');
select is((select count(*) from eventstore.snapshots), 0::bigint, 'no snapshot was stored');
select is(eventstore.save_snapshot('sized-1', 0, (select v from compressed_states where name = 'state 16777216')), true,
          'save_snapshot: a compressed state of exactly 16 MiB is stored');

-- None of the refused calls wrote anything.
select results_eq(
    $$select stream_id collate "default", count(*) from eventstore.events group by stream_id order by stream_id$$,
    $$values ('edge-1'::text, 1::bigint), ('edge-2', 1), ('edge-3', 1), ('sized-1', 1)$$,
    'only the accepted appends are stored');
select is((select pg_column_size(data #> '{}') from eventstore.events where stream_id = 'edge-1'), 1048576,
          'the accepted data is stored whole');

-- The same limits as literals, for comparison.
select throws_ok($$select eventstore.append_to_stream('big-5', -1, jsonb_build_array(jsonb_build_object(
                       'type', 'A', 'data', to_jsonb(repeat('x', 1048577 - pg_column_size(to_jsonb(''::text)))))))$$,
                 'ES400', 'event 0 has "data" larger than 1 MiB', 'a literal batch with data of 1 MiB + 1 byte');
select throws_ok($$select eventstore.save_snapshot('sized-1', 0, to_jsonb(repeat('y', 16777217 - pg_column_size(to_jsonb(''::text)))))$$,
                 'ES400', 'snapshot state must be at most 16 MiB, got 16777217 bytes',
                 'a literal state of 16 MiB + 1 byte');
select is((select version from eventstore.snapshots where stream_id = 'sized-1'), 0::bigint,
          'the stored snapshot is the one of exactly 16 MiB');

select * from finish();
rollback;
