-- Argument validation: every bad argument of every function is ES400, names the
-- problem, and changes nothing.
begin;
select plan(98);

select eventstore.append_to_stream('valid-1', -1, '[{"type": "A", "data": 1}]');

-- Stream ids: 1 to 255 characters, no control characters; checked by every function.
select throws_ok($$select eventstore.append_to_stream(null, null, '[{"type": "A", "data": 1}]')$$,
                 'ES400', 'stream id must not be NULL', 'append_to_stream: NULL stream id');
select throws_ok($$select eventstore.append_to_stream('', null, '[{"type": "A", "data": 1}]')$$,
                 'ES400', 'stream id must be 1 to 255 characters long, got 0', 'append_to_stream: empty stream id');
select throws_ok($$select eventstore.append_to_stream(repeat('s', 256), null, '[{"type": "A", "data": 1}]')$$,
                 'ES400', 'stream id must be 1 to 255 characters long, got 256',
                 'append_to_stream: 256-character stream id');
select lives_ok($$select eventstore.append_to_stream(repeat('s', 255), null, '[{"type": "A", "data": 1}]')$$,
                'append_to_stream: a 255-character stream id is valid');
select lives_ok($$select eventstore.append_to_stream(repeat('é', 255), null, '[{"type": "A", "data": 1}]')$$,
                'stream id length counts characters, not bytes');
select throws_ok($$select eventstore.append_to_stream(E'order\n1', null, '[{"type": "A", "data": 1}]')$$,
                 'ES400', null, 'append_to_stream: stream id with a newline');
select throws_ok($$select eventstore.append_to_stream(E'order\t1', null, '[{"type": "A", "data": 1}]')$$,
                 'ES400', null, 'append_to_stream: stream id with a tab');
select throws_ok($$select eventstore.append_to_stream('order' || chr(1), null, '[{"type": "A", "data": 1}]')$$,
                 'ES400', null, 'append_to_stream: stream id with \x01');
select throws_ok($$select eventstore.append_to_stream(chr(27) || '[31m', null, '[{"type": "A", "data": 1}]')$$,
                 'ES400', null, 'append_to_stream: stream id with an escape character');
select throws_like($$select eventstore.append_to_stream(E'a\rb', null, '[{"type": "A", "data": 1}]')$$,
                   '%contains a control character%', 'the message names the control-character rule');
select throws_ok($$select eventstore.append_to_stream('order' || chr(133), null, '[{"type": "A", "data": 1}]')$$,
                 'ES400', null, 'append_to_stream: stream id with a C1 control character (U+0085)');
select throws_ok($$select eventstore.append_to_stream('order' || chr(127), null, '[{"type": "A", "data": 1}]')$$,
                 'ES400', null, 'append_to_stream: stream id with DEL');
select lives_ok($$select eventstore.check_stream_id('order-' || chr(96239) || chr(160))$$,
                'a stream id with a rare letter (U+177EF) and a no-break space is valid, whatever the locale');
select throws_ok($$select eventstore.append_event(null, null, 'A', '1')$$,
                 'ES400', null, 'append_event: NULL stream id');
select throws_ok($$select eventstore.append_event(repeat('s', 300), null, 'A', '1')$$,
                 'ES400', null, 'append_event: too long stream id');
select throws_ok($$select eventstore.read_stream(null)$$, 'ES400', null, 'read_stream: NULL stream id');
select throws_ok($$select eventstore.read_stream('')$$, 'ES400', null, 'read_stream: empty stream id');
select throws_ok($$select eventstore.read_stream(E'x\ny', 0, 10, true)$$, 'ES400', null,
                 'read_stream backward: control character');
select throws_ok($$select eventstore.stream_version(null)$$, 'ES400', null, 'stream_version: NULL stream id');
select throws_ok($$select eventstore.stream_version(repeat('s', 256))$$, 'ES400', null,
                 'stream_version: too long stream id');
select throws_ok($$select eventstore.save_snapshot(null, 0, '{}')$$, 'ES400', null, 'save_snapshot: NULL stream id');
select throws_ok($$select eventstore.save_snapshot(E'a\tb', 0, '{}')$$, 'ES400', null,
                 'save_snapshot: control character');
select throws_ok($$select eventstore.load_snapshot('')$$, 'ES400', null, 'load_snapshot: empty stream id');
select throws_ok($$select eventstore.load_stream(null)$$, 'ES400', null, 'load_stream: NULL stream id');
select throws_ok($$select eventstore.load_stream(repeat('s', 256), 1)$$, 'ES400', null,
                 'load_stream: too long stream id');

-- A stream id may not start with '-': its category (the part before the first '-') would
-- be empty, and no category reader or consumer group could ever read its events.
create function pg_temp.error_of(statement text)
returns jsonb
language plpgsql
as $$
declare
    v_state text;
    v_message text;
    v_hint text;
begin
    execute statement;
    return null;
exception when others then
    get stacked diagnostics v_state = returned_sqlstate, v_message = message_text, v_hint = pg_exception_hint;
    return jsonb_build_object('sqlstate', v_state, 'message', v_message, 'hint', v_hint);
end;
$$;
select throws_ok($$select eventstore.append_to_stream('-42', null, '[{"type": "A", "data": 1}]')$$,
                 'ES400', 'stream id ''-42'' starts with ''-''', 'append_to_stream: a stream id starting with -');
select is(pg_temp.error_of($$select eventstore.append_to_stream('-', -1, '[{"type": "A", "data": 1}]')$$),
          jsonb_build_object(
              'sqlstate', 'ES400', 'message', 'stream id ''-'' starts with ''-''',
              'hint', 'A stream''s category is the part of its id before the first ''-'': this one''s '
                      'would be empty, and no category reader or consumer group could read its events. '
                      'Put the category first, e.g. ''order-123''.'),
          'append_to_stream: the id ''-'', and the hint says why it is refused');
select throws_ok($$select eventstore.append_to_stream('--1', -1,
                     '[{"type": "A", "data": 1, "id": "7d0a6a4e-5a4f-4c36-9f55-0c6f2a1f4e01"}]')$$,
                 'ES400', null, 'append_to_stream with an event id: a stream id starting with -');
select throws_ok($$select eventstore.append_event('-42', -1, 'A', '1')$$,
                 'ES400', 'stream id ''-42'' starts with ''-''', 'append_event -1: a stream id starting with -');
select throws_ok($$select eventstore.append_event('-42', null, 'A', '1')$$,
                 'ES400', null, 'append_event NULL: a stream id starting with -');
select throws_ok($$select eventstore.read_stream('-42')$$, 'ES400', null, 'read_stream: a stream id starting with -');
select throws_ok($$select eventstore.stream_version('-42')$$, 'ES400', null,
                 'stream_version: a stream id starting with -');
select throws_ok($$select eventstore.load_stream('-42')$$, 'ES400', null, 'load_stream: a stream id starting with -');
select throws_ok($$select eventstore.save_snapshot('-42', 0, '{}')$$, 'ES400', null,
                 'save_snapshot: a stream id starting with -');
select throws_ok($$select eventstore.load_snapshot('-42')$$, 'ES400', null,
                 'load_snapshot: a stream id starting with -');
select throws_ok($$select eventstore.list_streams(null, 100, '-42')$$, 'ES400', null,
                 'list_streams: an after starting with -');
select is(pg_temp.error_of($$select eventstore.append_to_stream(E'-\n', -1, '[{"type": "A", "data": 1}]')$$) ->> 'sqlstate',
          'ES400', 'a stream id starting with - and holding a control character');
select lives_ok($$select eventstore.append_to_stream('order--1', null, '[{"type": "A", "data": 1}]')$$,
                'a - later in the id is valid (category order)');
select lives_ok($$select eventstore.append_event('0-42', -1, 'A', '1')$$,
                'a category of one digit is valid');
select is(eventstore.stream_id_is_valid(' -1'), true, 'a space before the - is a category of its own');
select is_empty($$select * from eventstore.list_streams('')$$, 'no stream has an empty category');

-- Expected version: NULL, -1, -2 or >= 0.
select throws_ok($$select eventstore.append_to_stream('valid-1', -3, '[{"type": "A", "data": 1}]')$$,
                 'ES400', 'expected version must be NULL, -1, -2 or >= 0, got -3', 'expected version -3');
select throws_ok($$select eventstore.append_event('valid-1', -100, 'A', '1')$$,
                 'ES400', null, 'append_event: expected version -100');

-- The batch: a non-empty JSON array of at most 10000 event objects.
select throws_ok($$select eventstore.append_to_stream('valid-1', null, null)$$,
                 'ES400', 'events must be a JSON array of event objects', 'NULL events');
select throws_ok($$select eventstore.append_to_stream('valid-1', null, '{"type": "A", "data": 1}')$$,
                 'ES400', 'events must be a JSON array of event objects', 'a single object instead of an array');
select throws_ok($$select eventstore.append_to_stream('valid-1', null, '"A"')$$,
                 'ES400', null, 'a JSON string instead of an array');
select throws_ok($$select eventstore.append_to_stream('valid-1', null, 'null')$$,
                 'ES400', null, 'JSON null instead of an array');
select throws_ok($$select eventstore.append_to_stream('valid-1', null, '[]')$$,
                 'ES400', 'events must not be empty', 'an empty batch');
select throws_ok($$select eventstore.append_to_stream('valid-1', null,
                     (select jsonb_agg(jsonb_build_object('type', 'A', 'data', i)) from generate_series(1, 10001) i))$$,
                 'ES400', 'a batch holds at most 10000 events, got 10001', 'a batch of 10001 events');
select lives_ok($$select eventstore.append_to_stream('big-1', -1,
                    (select jsonb_agg(jsonb_build_object('type', 'A', 'data', i)) from generate_series(1, 10000) i))$$,
                'a batch of 10000 events is accepted');
select is(eventstore.stream_version('big-1'), 9999::bigint, 'the 10000-event batch is stored');

-- Each event: an object with type, data, optional metadata and id, nothing else.
select throws_ok($$select eventstore.append_to_stream('valid-1', null, '[1]')$$,
                 'ES400', 'event 0 is not a JSON object', 'an event that is a number');
select throws_ok($$select eventstore.append_to_stream('valid-1', null, '[{"type": "A", "data": 1}, [2]]')$$,
                 'ES400', 'event 1 is not a JSON object', 'the message names the 0-based index of the bad event');
select throws_ok($$select eventstore.append_to_stream('valid-1', null, '[{"type": "A", "data": 1, "extra": 2}]')$$,
                 'ES400', 'event 0 has an unknown key extra (allowed: type, data, metadata, id)', 'an unknown key');

-- A program points at the refused event through DETAIL, not by parsing the message.
do $$
declare
    v_detail text;
begin
    perform eventstore.append_to_stream('valid-1', null, '[{"type": "A", "data": 1}, {"type": "A"}]');
exception when sqlstate 'ES400' then
    get stacked diagnostics v_detail = pg_exception_detail;
    perform set_config('test.detail', v_detail, true);
end
$$;
select is(current_setting('test.detail')::jsonb,
          '{"event_index": 1, "problem": "needs \"data\" (use null for an event without data)"}'::jsonb,
          'a refused event''s DETAIL names its index and the problem as JSON');
select throws_ok($$select eventstore.append_to_stream('valid-1', null, '[{"data": 1}]')$$,
                 'ES400', 'event 0 needs "type": a string of 1 to 255 characters', 'a missing type');
select throws_ok($$select eventstore.append_to_stream('valid-1', null, '[{"type": null, "data": 1}]')$$,
                 'ES400', null, 'a JSON null type');
select throws_ok($$select eventstore.append_to_stream('valid-1', null, '[{"type": 7, "data": 1}]')$$,
                 'ES400', null, 'a numeric type');
select throws_ok($$select eventstore.append_to_stream('valid-1', null, '[{"type": "", "data": 1}]')$$,
                 'ES400', null, 'an empty type');
select throws_ok($$select eventstore.append_to_stream('valid-1', null,
                     jsonb_build_array(jsonb_build_object('type', repeat('t', 256), 'data', 1)))$$,
                 'ES400', null, 'a 256-character type');
select lives_ok($$select eventstore.append_to_stream('valid-1', null,
                    jsonb_build_array(jsonb_build_object('type', repeat('t', 255), 'data', 1)))$$,
                'a 255-character type is valid');
select throws_ok($$select eventstore.append_to_stream('valid-1', null, '[{"type": "A"}]')$$,
                 'ES400', 'event 0 needs "data" (use null for an event without data)', 'a missing data');
select throws_ok($$select eventstore.append_to_stream('valid-1', null,
                     jsonb_build_array(jsonb_build_object('type', 'A', 'data', repeat('x', 1100000))))$$,
                 'ES400', 'event 0 has "data" larger than 1 MiB', 'data larger than 1 MiB');
select throws_ok($$select eventstore.append_to_stream('valid-1', null, '[{"type": "A", "data": 1, "metadata": [1]}]')$$,
                 'ES400', 'event 0 has "metadata" that is not a JSON object', 'array metadata');
select throws_ok($$select eventstore.append_to_stream('valid-1', null, '[{"type": "A", "data": 1, "metadata": "m"}]')$$,
                 'ES400', null, 'string metadata');
select lives_ok($$select eventstore.append_to_stream('valid-1', null, '[{"type": "A", "data": 1, "metadata": null}]')$$,
                'JSON null metadata is accepted');
select throws_ok($$select eventstore.append_to_stream('valid-1', null, '[{"type": "A", "data": 1, "id": "abc"}]')$$,
                 'ES400', null, 'an id that is not a uuid');
select throws_ok($$select eventstore.append_to_stream('valid-1', null, '[{"type": "A", "data": 1, "id": 12}]')$$,
                 'ES400', null, 'a numeric id');
select throws_ok($$select eventstore.append_to_stream('valid-1', null,
                     '[{"type": "A", "data": 1, "id": "5f0c1d9e8a4b4c3e9f1a2b3c4d5e6f70"}]')$$,
                 'ES400', null, 'a uuid without hyphens');
select throws_ok($$select eventstore.append_to_stream('valid-1', null,
                     '[{"type": "A", "data": 1, "id": "{5f0c1d9e-8a4b-4c3e-9f1a-2b3c4d5e6f70}"}]')$$,
                 'ES400', null, 'a uuid in braces');
select throws_like($$select eventstore.append_to_stream('valid-1', null, '[{"type": "A", "data": 1, "id": "x"}]')$$,
                   'event 0 has an "id" that is not a UUID string%', 'the message says the id must be a UUID');
select lives_ok($$select eventstore.append_to_stream('valid-1', null,
                    '[{"type": "A", "data": 1, "id": "5F0C1D9E-8A4B-4C3E-9F1A-2B3C4D5E6F70"},
                      {"type": "A", "data": 1, "id": null}]')$$,
                'an upper-case uuid and a JSON null id are accepted');
select throws_ok($$select eventstore.append_to_stream('valid-1', null,
                     '[{"type": "A", "data": 1, "id": "0b9c3a8e-0d77-4e7b-8f57-3a0f0e4e2a11"},
                       {"type": "B", "data": 2, "id": "0b9c3a8e-0d77-4e7b-8f57-3a0f0e4e2a11"}]')$$,
                 'ES400', 'the batch gives the same event id to more than one event', 'one id twice in a batch');

-- append_event checks its separate arguments the same way.
select throws_ok($$select eventstore.append_event('valid-1', null, null, '1')$$,
                 'ES400', null, 'append_event: NULL type');
select throws_ok($$select eventstore.append_event('valid-1', null, '', '1')$$,
                 'ES400', null, 'append_event: empty type');
select throws_ok($$select eventstore.append_event('valid-1', null, 'A', '1', '[1]')$$,
                 'ES400', null, 'append_event: metadata that is not an object');
-- Its common call (-1 or an exact version, no id) tests the arguments in one expression;
-- whatever that test does not admit gets the batch's checks, with their messages.
select throws_ok($$select eventstore.append_event('fast-1', -1, repeat('t', 256), '1')$$,
                 'ES400', 'event 0 needs "type": a string of 1 to 255 characters', 'append_event -1: a 256-character type');
select lives_ok($$select eventstore.append_event('fast-2', -1, repeat('é', 255), '1')$$,
                'append_event -1: 255 two-byte characters are a valid type');
select throws_ok($$select eventstore.append_event('fast-3', -1, 'A', to_jsonb(repeat('x', 1100000)))$$,
                 'ES400', 'event 0 has "data" larger than 1 MiB', 'append_event -1: data larger than 1 MiB');
select throws_ok($$select eventstore.append_event('fast-3', -1, 'A', '1', jsonb_build_object('m', repeat('x', 1100000)))$$,
                 'ES400', 'event 0 has "metadata" larger than 1 MiB', 'append_event -1: metadata larger than 1 MiB');
create temp table big_values (v jsonb);
insert into big_values values (to_jsonb(repeat('x', 1100000)));
select isnt((select pg_column_compression(v) from big_values), null, 'the stored large value is compressed');
select throws_ok($$select eventstore.append_event('fast-3', -1, 'A', (select v from big_values))$$,
                 'ES400', 'event 0 has "data" larger than 1 MiB',
                 'append_event -1: compressed data larger than 1 MiB uncompressed');
select throws_ok($$select eventstore.append_event('valid-1', 0, 'A', '1', '"m"')$$,
                 'ES400', 'event 0 has "metadata" that is not a JSON object', 'append_event n: string metadata');
select is((select count(*) from eventstore.events where stream_id like 'fast-%'), 1::bigint,
          'only the valid one-event appends wrote');

-- read_stream: page size 1..100000, from_version >= 0 forward (>= -1 backward).
select throws_ok($$select eventstore.read_stream('valid-1', 0, 0)$$,
                 'ES400', 'max_count must be between 1 and 100000, got 0', 'read_stream: max_count 0');
select throws_ok($$select eventstore.read_stream('valid-1', 0, -5)$$, 'ES400', null, 'read_stream: negative max_count');
select throws_ok($$select eventstore.read_stream('valid-1', 0, null)$$,
                 'ES400', 'max_count must be between 1 and 100000, got NULL', 'read_stream: NULL max_count');
select throws_ok($$select eventstore.read_stream('valid-1', 0, 100001)$$, 'ES400', null,
                 'read_stream: max_count above 100000');
select throws_ok($$select eventstore.read_stream('valid-1', -1)$$,
                 'ES400', 'from_version must be >= 0 when reading forward, got -1', 'read_stream: from -1 forward');
select throws_ok($$select eventstore.read_stream('valid-1', -2, 10, true)$$,
                 'ES400', 'from_version must be >= -1 when reading backward, got -2', 'read_stream: from -2 backward');
select throws_ok($$select eventstore.read_stream('valid-1', 0, 10, null)$$,
                 'ES400', 'backward must be true or false, not NULL', 'read_stream: NULL direction');

-- save_snapshot: a state, a schema version >= 1 and a version the stream has reached.
select throws_ok($$select eventstore.save_snapshot('valid-1', 0, null)$$,
                 'ES400', 'snapshot state must not be NULL', 'save_snapshot: NULL state');
select throws_ok($$select eventstore.save_snapshot('valid-1', 0, '{}', 0)$$,
                 'ES400', 'snapshot schema_version must be >= 1, got 0', 'save_snapshot: schema_version 0');
select throws_ok($$select eventstore.save_snapshot('valid-1', 0, '{}', null)$$,
                 'ES400', null, 'save_snapshot: NULL schema_version');
select throws_ok($$select eventstore.save_snapshot('valid-1', -1, '{}')$$, 'ES400', null,
                 'save_snapshot: negative version');
select throws_ok($$select eventstore.save_snapshot('valid-1', null, '{}')$$, 'ES400', null,
                 'save_snapshot: NULL version');

-- None of the rejected calls wrote anything.
select results_eq(
    $$select stream_id collate "default", max(version) from eventstore.events group by stream_id order by stream_id$$,
    $$values ('0-42'::text, 0::bigint), ('big-1', 9999), ('fast-2', 0), ('order--1', 0), (repeat('s', 255), 0),
             ('valid-1', 4), (repeat('é', 255), 0)$$,
    'only the accepted appends are stored');
select is_empty($$select * from eventstore.snapshots$$, 'no snapshot was stored');

select * from finish();
rollback;
