-- Idempotent retries: a batch whose events all carry ids and are already stored, in that
-- order, directly after the expected version, returns the original result and writes
-- nothing; any partial or out-of-place match is ES409; an id stored elsewhere is ES412.
begin;
select plan(31);

create temp table original as
select * from eventstore.append_to_stream('pay-1', -1,
    '[{"type": "A", "data": 1, "id": "00000000-0000-4000-8000-000000000001"},
      {"type": "B", "data": 2, "id": "00000000-0000-4000-8000-000000000002"}]');
create temp table counts as select count(*) as n from eventstore.events;

-- The same call again returns the original result.
select results_eq(
    $$select * from eventstore.append_to_stream('pay-1', -1,
          '[{"type": "A", "data": 1, "id": "00000000-0000-4000-8000-000000000001"},
            {"type": "B", "data": 2, "id": "00000000-0000-4000-8000-000000000002"}]')$$,
    $$select * from original$$, 'a retry with -1 returns the original result');
select is((select count(*) from eventstore.events), (select n from counts), 'the retry wrote nothing');
select results_eq(
    $$select * from eventstore.append_to_stream('pay-1', null,
          '[{"type": "A", "data": 1, "id": "00000000-0000-4000-8000-000000000001"},
            {"type": "B", "data": 2, "id": "00000000-0000-4000-8000-000000000002"}]')$$,
    $$select * from original$$, 'a retry with NULL (any) returns the original result');
select results_eq(
    $$select * from eventstore.append_to_stream('pay-1', -2,
          '[{"type": "A", "data": 1, "id": "00000000-0000-4000-8000-000000000001"},
            {"type": "B", "data": 2, "id": "00000000-0000-4000-8000-000000000002"}]')$$,
    $$select * from original$$, 'a retry with -2 returns the original result');
select is((select count(*) from eventstore.events), (select n from counts), 'the retries wrote nothing');

-- The stream moves on; a retry of the first batch still finds it directly after -1.
create temp table second as
select * from eventstore.append_to_stream('pay-1', 1,
    '[{"type": "C", "data": 3, "id": "00000000-0000-4000-8000-000000000003"}]');
select results_eq(
    $$select * from eventstore.append_to_stream('pay-1', -1,
          '[{"type": "A", "data": 1, "id": "00000000-0000-4000-8000-000000000001"},
            {"type": "B", "data": 2, "id": "00000000-0000-4000-8000-000000000002"}]')$$,
    $$select * from original$$, 'a late retry of the first batch returns its original result');
select results_eq(
    $$select * from eventstore.append_to_stream('pay-1', 1,
          '[{"type": "C", "data": 3, "id": "00000000-0000-4000-8000-000000000003"}]')$$,
    $$select * from second$$, 'a retry of the second batch at expected version 1');
select results_eq(
    $$select * from eventstore.append_to_stream('pay-1', null,
          '[{"type": "C", "data": 3, "id": "00000000-0000-4000-8000-000000000003"}]')$$,
    $$select * from second$$, 'a retry of the second batch with NULL');
select results_eq(
    $$select * from eventstore.append_event('pay-1', 1, 'C', '3', null, '00000000-0000-4000-8000-000000000003')$$,
    $$select * from second$$, 'append_event retries the same way');
select is(eventstore.stream_version('pay-1'), 2::bigint, 'the stream is at version 2 after all retries');
select is((select count(*) from eventstore.events where stream_id = 'pay-1'), 3::bigint, 'three events, no duplicates');

-- Out of place: the ids are stored, but not directly after the expected version.
select throws_ok($$select eventstore.append_to_stream('pay-1', 0,
                     '[{"type": "A", "data": 1, "id": "00000000-0000-4000-8000-000000000001"},
                       {"type": "B", "data": 2, "id": "00000000-0000-4000-8000-000000000002"}]')$$,
                 'ES409', null, 'a retry with another expected version is ES409');
select throws_ok($$select eventstore.append_to_stream('pay-1', 2,
                     '[{"type": "C", "data": 3, "id": "00000000-0000-4000-8000-000000000003"}]')$$,
                 'ES409', null, 'a retry claiming to follow the current version is ES409');
select throws_ok($$select eventstore.append_to_stream('pay-1', -1,
                     '[{"type": "C", "data": 3, "id": "00000000-0000-4000-8000-000000000003"}]')$$,
                 'ES409', null, 'a retry with -1 of a batch not at version 0 is ES409');

-- Partial matches: some ids stored, some new; another order; a gap between them.
select throws_ok($$select eventstore.append_to_stream('pay-1', 2,
                     '[{"type": "C", "data": 3, "id": "00000000-0000-4000-8000-000000000003"},
                       {"type": "D", "data": 4, "id": "00000000-0000-4000-8000-000000000004"}]')$$,
                 'ES409', null, 'a stored id followed by a new one is ES409');
select throws_like($$select eventstore.append_to_stream('pay-1', null,
                       '[{"type": "C", "data": 3, "id": "00000000-0000-4000-8000-000000000003"},
                         {"type": "D", "data": 4, "id": "00000000-0000-4000-8000-000000000004"}]')$$,
                   '%1 of the 2 event ids are already stored%', 'the message counts the stored ids');
select throws_ok($$select eventstore.append_to_stream('pay-1', -1,
                     '[{"type": "B", "data": 2, "id": "00000000-0000-4000-8000-000000000002"},
                       {"type": "A", "data": 1, "id": "00000000-0000-4000-8000-000000000001"}]')$$,
                 'ES409', null, 'the stored ids in another order are ES409');
select throws_ok($$select eventstore.append_to_stream('pay-1', null,
                     '[{"type": "A", "data": 1, "id": "00000000-0000-4000-8000-000000000001"},
                       {"type": "C", "data": 3, "id": "00000000-0000-4000-8000-000000000003"}]')$$,
                 'ES409', null, 'stored ids that are not consecutive are ES409');

-- Ids stored in another stream: ES412, with or without ids on every event.
select throws_ok($$select eventstore.append_to_stream('pay-2', -1,
                     '[{"type": "A", "data": 1, "id": "00000000-0000-4000-8000-000000000001"}]')$$,
                 'ES412', null, 'an id stored in another stream is ES412');
select throws_ok($$select eventstore.append_to_stream('pay-2', null,
                     '[{"type": "X", "data": 1}, {"type": "A", "data": 1, "id": "00000000-0000-4000-8000-000000000002"}]')$$,
                 'ES412', null, 'an id stored in another stream, in a batch where not every event has an id');
select throws_ok($$select eventstore.append_to_stream('pay-1', null,
                     '[{"type": "X", "data": 1}, {"type": "A", "data": 1, "id": "00000000-0000-4000-8000-000000000002"}]')$$,
                 'ES412', null, 'a stored id in a batch where not every event has one is ES412 (never a retry)');
select throws_ok($$select eventstore.append_event('pay-2', null, 'A', '1', null, '00000000-0000-4000-8000-000000000003')$$,
                 'ES412', 'event id 00000000-0000-4000-8000-000000000003 is already stored in stream ''pay-1''',
                 'the ES412 message names the id and the stream holding it');
select is(eventstore.stream_version('pay-2'), -1::bigint, 'the rejected batches created no pay-2');
select is((select count(*) from eventstore.events), (select n from counts) + 1,
          'only the second batch was ever written');

-- A batch without ids is never a retry: the same content appends again.
select is((select stream_version from eventstore.append_to_stream('plain-1', null, '[{"type": "A", "data": 1}]')),
          0::bigint, 'a batch without ids');
select is((select stream_version from eventstore.append_to_stream('plain-1', null, '[{"type": "A", "data": 1}]')),
          1::bigint, 'the same batch without ids appends again');

-- A retry with different payload under the same ids is still recognised by its ids.
select results_eq(
    $$select * from eventstore.append_to_stream('pay-1', 1,
          '[{"type": "Other", "data": 99, "id": "00000000-0000-4000-8000-000000000003"}]')$$,
    $$select * from second$$, 'a retry is recognised by its ids alone');
select is((select data from eventstore.events where event_id = '00000000-0000-4000-8000-000000000003'),
          '3'::jsonb, 'the stored event is unchanged');

-- Ids are compared as uuids: case does not matter.
select results_eq(
    $$select * from eventstore.append_to_stream('pay-1', 1,
          '[{"type": "C", "data": 3, "id": "00000000-0000-4000-8000-000000000003"}]')$$,
    $$select * from eventstore.append_to_stream('pay-1', 1,
          '[{"type": "C", "data": 3, "id": "00000000-0000-4000-8000-000000000003"}]')$$,
    'a retry is stable');
select results_eq(
    $$select * from eventstore.append_to_stream('case-1', -1,
          '[{"type": "C", "data": 3, "id": "abcdef00-0000-4000-8000-00000000000a"}]')$$,
    $$select * from eventstore.append_to_stream('case-1', -1,
          '[{"type": "C", "data": 3, "id": "ABCDEF00-0000-4000-8000-00000000000A"}]')$$,
    'an upper-case retry matches the lower-case original');

-- The largest bigint as expected version of a stored batch is a wrong version, not an
-- overflow.
select throws_ok($$select eventstore.append_to_stream('pay-1', 9223372036854775807,
                     '[{"type": "A", "data": 1, "id": "00000000-0000-4000-8000-000000000001"},
                       {"type": "B", "data": 2, "id": "00000000-0000-4000-8000-000000000002"}]')$$,
                 'ES409', null, 'a retry with the largest bigint as expected version is ES409');

select * from finish();
rollback;
