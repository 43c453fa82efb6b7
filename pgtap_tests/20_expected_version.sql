-- Expected versions: NULL (any), -1 (no stream), -2 (stream exists), n (exactly n), and
-- the ES409 error: message, machine-readable DETAIL, hint, and nothing written.
begin;
select plan(39);

-- The error a statement raises, as JSON (NULL when it succeeds), to inspect DETAIL and HINT.
create function pg_temp.error_of(statement text)
returns jsonb
language plpgsql
as $$
declare
    v_state text;
    v_message text;
    v_detail text;
    v_hint text;
begin
    execute statement;
    return null;
exception when others then
    get stacked diagnostics v_state = returned_sqlstate, v_message = message_text,
                            v_detail = pg_exception_detail, v_hint = pg_exception_hint;
    return jsonb_build_object('sqlstate', v_state, 'message', v_message, 'detail', v_detail, 'hint', v_hint);
end;
$$;

-- -1: the stream must have no events.
select is((select stream_version from eventstore.append_to_stream('s-1', -1, '[{"type": "A", "data": 1}]')),
          0::bigint, '-1 on an absent stream creates it');
select throws_ok($$select eventstore.append_to_stream('s-1', -1, '[{"type": "A", "data": 1}]')$$,
                 'ES409', null, '-1 on an existing stream is ES409');

-- -2: the stream must exist.
select throws_ok($$select eventstore.append_to_stream('s-absent', -2, '[{"type": "A", "data": 1}]')$$,
                 'ES409', null, '-2 on an absent stream is ES409');
select is((select stream_version from eventstore.append_to_stream('s-1', -2, '[{"type": "A", "data": 1}]')),
          1::bigint, '-2 on an existing stream appends');

-- n: the stream's version must be exactly n.
select is((select stream_version from eventstore.append_to_stream('s-1', 1, '[{"type": "A", "data": 1}, {"type": "B", "data": 2}]')),
          3::bigint, 'the current version appends');
select throws_ok($$select eventstore.append_to_stream('s-1', 2, '[{"type": "A", "data": 1}]')$$,
                 'ES409', null, 'an older version is ES409');
select throws_ok($$select eventstore.append_to_stream('s-1', 4, '[{"type": "A", "data": 1}]')$$,
                 'ES409', null, 'a version ahead of the stream is ES409');
select throws_ok($$select eventstore.append_to_stream('s-1', 0, '[{"type": "A", "data": 1}]')$$,
                 'ES409', null, 'version 0 on a longer stream is ES409');
select throws_ok($$select eventstore.append_to_stream('s-absent', 0, '[{"type": "A", "data": 1}]')$$,
                 'ES409', null, 'version 0 on an absent stream is ES409');
select is(eventstore.stream_version('s-absent'), -1::bigint, 'the failed appends did not create s-absent');
select is_empty($$select 1 from eventstore.events where stream_id = 's-absent'$$,
                'no event for s-absent');

-- NULL: any version, absent or not.
select is((select stream_version from eventstore.append_to_stream('s-any', null, '[{"type": "A", "data": 1}]')),
          0::bigint, 'NULL on an absent stream creates it');
select is((select stream_version from eventstore.append_to_stream('s-any', null, '[{"type": "A", "data": 1}, {"type": "A", "data": 2}]')),
          2::bigint, 'NULL on an existing stream appends');
select is((select stream_version from eventstore.append_event('s-any', null, 'A', '3')),
          3::bigint, 'append_event with NULL appends');

-- append_event follows the same rules.
select throws_ok($$select eventstore.append_event('s-any', -1, 'A', '1')$$, 'ES409', null, 'append_event: -1 on existing');
select throws_ok($$select eventstore.append_event('s-new', -2, 'A', '1')$$, 'ES409', null, 'append_event: -2 on absent');
select is((select stream_version from eventstore.append_event('s-any', 3, 'A', '1')), 4::bigint,
          'append_event: the current version appends');
-- Its common call finds a wrong version by what its insert did not write; the error is
-- the batch's, to the letter.
select is(pg_temp.error_of($$select eventstore.append_event('s-any', 2, 'A', '1')$$),
          pg_temp.error_of($$select eventstore.append_to_stream('s-any', 2, '[{"type": "A", "data": 1}]')$$),
          'append_event: a stale version, the same error as the batch');
select is(pg_temp.error_of($$select eventstore.append_event('s-any', 9, 'A', '1')$$),
          pg_temp.error_of($$select eventstore.append_to_stream('s-any', 9, '[{"type": "A", "data": 1}]')$$),
          'append_event: a version ahead of the stream, the same error as the batch');
select is(pg_temp.error_of($$select eventstore.append_event('s-any', -1, 'A', '1')$$),
          pg_temp.error_of($$select eventstore.append_to_stream('s-any', -1, '[{"type": "A", "data": 1}]')$$),
          'append_event: -1 on an existing stream, the same error as the batch');
select is(pg_temp.error_of($$select eventstore.append_event('s-any', 9223372036854775807, 'A', '1')$$) ->> 'sqlstate',
          'ES409', 'append_event: the largest bigint as expected version is ES409, not an overflow');
select is((pg_temp.error_of($$select eventstore.append_event('s-none', 0, 'A', '1')$$) ->> 'detail')::jsonb,
          '{"stream_id": "s-none", "expected_version": 0, "actual_version": -1}'::jsonb,
          'append_event: version 0 of an absent stream, actual -1');

-- The ES409 error names the stream, the expected and the actual version.
select is(pg_temp.error_of($$select eventstore.append_to_stream('s-1', 1, '[{"type": "A", "data": 1}]')$$) ->> 'message',
          'wrong expected version for stream ''s-1'': expected 1, actual 3',
          'the message names the stream, the expected and the actual version');
select is(pg_temp.error_of($$select eventstore.append_to_stream('s-1', 1, '[{"type": "A", "data": 1}]')$$) ->> 'detail',
          '{"stream_id" : "s-1", "expected_version" : 1, "actual_version" : 3}',
          'DETAIL is a JSON object with stream_id, expected_version and actual_version');
select is((pg_temp.error_of($$select eventstore.append_to_stream('s-1', 7, '[{"type": "A", "data": 1}]')$$) ->> 'detail')::jsonb
              -> 'actual_version',
          '3'::jsonb, 'the actual version is machine-readable in DETAIL');
select is((pg_temp.error_of($$select eventstore.append_to_stream('s-1', -1, '[{"type": "A", "data": 1}]')$$) ->> 'detail')::jsonb,
          '{"stream_id": "s-1", "expected_version": -1, "actual_version": 3}'::jsonb, 'DETAIL for -1');
select is((pg_temp.error_of($$select eventstore.append_to_stream('nope', -2, '[{"type": "A", "data": 1}]')$$) ->> 'detail')::jsonb,
          '{"stream_id": "nope", "expected_version": -2, "actual_version": -1}'::jsonb,
          'DETAIL for -2 on an absent stream: actual -1');
select is(pg_temp.error_of($$select eventstore.append_to_stream('nope', -2, '[{"type": "A", "data": 1}]')$$) ->> 'message',
          'wrong expected version for stream ''nope'': expected -2 (stream exists), actual -1',
          'the message spells out what -2 means');
select is(pg_temp.error_of($$select eventstore.append_to_stream('s-1', -1, '[{"type": "A", "data": 1}]')$$) ->> 'message',
          'wrong expected version for stream ''s-1'': expected -1 (no stream), actual 3',
          'the message spells out what -1 means');
select matches(pg_temp.error_of($$select eventstore.append_to_stream('s-1', 0, '[{"type": "A", "data": 1}]')$$) ->> 'hint',
               'now at version 3', 'the hint says where the stream is now');
select is((pg_temp.error_of($$select eventstore.append_to_stream(E'quote''s "id"', 0, '[{"type": "A", "data": 1}]')$$) ->> 'detail')::jsonb
              ->> 'stream_id',
          E'quote''s "id"', 'DETAIL stays valid JSON for a stream id with quotes');

-- A stream id's ES409 does not depend on other streams.
select is((select stream_version from eventstore.append_to_stream('s-2', -1, '[{"type": "A", "data": 1}]')),
          0::bigint, 'another stream of the same category starts at 0');
select is(eventstore.stream_version('s-1'), 3::bigint, 's-1 is unchanged by the failed appends');

-- A conflict leaves the stream exactly as it was.
create temp table before_conflict as
select count(*) as events, max(global_position) as last_position from eventstore.events;
select is(pg_temp.error_of($$select eventstore.append_to_stream('s-1', 2,
              '[{"type": "A", "data": 1}, {"type": "B", "data": 2}]')$$) ->> 'sqlstate',
          'ES409', 'a conflicting two-event batch is ES409');
select results_eq($$select count(*), max(global_position) from eventstore.events$$,
                  $$select events, last_position from before_conflict$$,
                  'the conflicting batch wrote nothing');

-- The expectation is checked against the version at the time of the call, also inside one transaction.
select is((select stream_version from eventstore.append_to_stream('s-3', -1, '[{"type": "A", "data": 1}]')),
          0::bigint, 'create s-3');
select is((select stream_version from eventstore.append_to_stream('s-3', 0, '[{"type": "A", "data": 1}]')),
          1::bigint, 'append at 0 in the same transaction');
select throws_ok($$select eventstore.append_to_stream('s-3', 0, '[{"type": "A", "data": 1}]')$$,
                 'ES409', null, 'a second append at 0 in the same transaction is ES409');
select results_eq($$select version from eventstore.events where stream_id = 's-3' order by version$$,
                  $$values (0::bigint), (1)$$, 's-3 holds versions 0 and 1');

select * from finish();
rollback;
