-- The public SQL contract of the core functions: names, argument names and defaults,
-- result types, and that appends and snapshot saves are volatile while reads are not.
begin;
select plan(24);

-- One row of the named type append_result: a function declaring its row with OUT
-- parameters or RETURNS TABLE builds the row descriptor on every call, a named type's
-- comes from the type cache. select * from append_to_stream(...) shows the three columns.
select results_eq(
    $$select a.attname::text collate "default", format_type(a.atttypid, a.atttypmod)
        from pg_attribute a
       where a.attrelid = 'eventstore.append_result'::regclass and a.attnum > 0
       order by a.attnum$$,
    $$values ('stream_version', 'bigint'), ('first_position', 'bigint'), ('last_position', 'bigint')$$,
    'append_result is (stream_version, first_position, last_position), all bigint');
select is(pg_get_function_arguments('eventstore.append_to_stream(text, bigint, jsonb)'::regprocedure),
          'stream_id text, expected_version bigint, events jsonb',
          'append_to_stream arguments');
select is(pg_get_function_result('eventstore.append_to_stream(text, bigint, jsonb)'::regprocedure),
          'eventstore.append_result', 'append_to_stream returns one append_result, not a set');
select volatility_is('eventstore', 'append_to_stream', array['text', 'bigint', 'jsonb'], 'volatile',
                     'append_to_stream is volatile');

select is(pg_get_function_arguments('eventstore.append_event(text, bigint, text, jsonb, jsonb, uuid)'::regprocedure),
          'stream_id text, expected_version bigint, type text, data jsonb, metadata jsonb DEFAULT NULL::jsonb, event_id uuid DEFAULT NULL::uuid',
          'append_event arguments and defaults');
select is(pg_get_function_result('eventstore.append_event(text, bigint, text, jsonb, jsonb, uuid)'::regprocedure),
          'eventstore.append_result', 'append_event returns one append_result, not a set');
select volatility_is('eventstore', 'append_event', array['text', 'bigint', 'text', 'jsonb', 'jsonb', 'uuid'],
                     'volatile', 'append_event is volatile');

select is(pg_get_function_arguments('eventstore.read_stream(text, bigint, integer, boolean)'::regprocedure),
          'stream_id text, from_version bigint DEFAULT 0, max_count integer DEFAULT 1000, backward boolean DEFAULT false',
          'read_stream arguments and defaults');
select is(pg_get_function_result('eventstore.read_stream(text, bigint, integer, boolean)'::regprocedure),
          'SETOF eventstore.recorded_event', 'read_stream result');
select volatility_is('eventstore', 'read_stream', array['text', 'bigint', 'integer', 'boolean'], 'stable',
                     'read_stream is stable');

select is(pg_get_function_arguments('eventstore.stream_version(text)'::regprocedure), 'stream_id text',
          'stream_version arguments');
select function_returns('eventstore', 'stream_version', array['text'], 'bigint', 'stream_version returns bigint');
select volatility_is('eventstore', 'stream_version', array['text'], 'stable', 'stream_version is stable');

select is(pg_get_function_arguments('eventstore.save_snapshot(text, bigint, jsonb, integer)'::regprocedure),
          'stream_id text, version bigint, state jsonb, schema_version integer DEFAULT 1',
          'save_snapshot arguments and defaults');
select function_returns('eventstore', 'save_snapshot', array['text', 'bigint', 'jsonb', 'integer'], 'boolean',
                        'save_snapshot returns boolean');
select volatility_is('eventstore', 'save_snapshot', array['text', 'bigint', 'jsonb', 'integer'], 'volatile',
                     'save_snapshot is volatile');

select is(pg_get_function_arguments('eventstore.load_snapshot(text)'::regprocedure), 'stream_id text',
          'load_snapshot arguments');
select is(pg_get_function_result('eventstore.load_snapshot(text)'::regprocedure),
          'TABLE(version bigint, state jsonb, schema_version integer, recorded_at timestamp with time zone)',
          'load_snapshot result');

select is(pg_get_function_arguments('eventstore.load_stream(text, integer)'::regprocedure),
          'stream_id text, schema_version integer DEFAULT NULL::integer', 'load_stream arguments and defaults');
select is(pg_get_function_result('eventstore.load_stream(text, integer)'::regprocedure),
          'TABLE(kind text, version bigint, global_position bigint, event_id uuid, event_type text, data jsonb, '
          'metadata jsonb, recorded_at timestamp with time zone, snapshot_schema_version integer)',
          'load_stream result');
select volatility_is('eventstore', 'load_stream', array['text', 'integer'], 'stable', 'load_stream is stable');

select function_returns('eventstore', 'version', array[]::text[], 'text', 'version returns text');
select function_returns('eventstore', 'category', array['text'], 'text', 'category returns text');
select volatility_is('eventstore', 'category', array['text'], 'immutable',
                     'category is immutable (it backs an index)');

select * from finish();
rollback;
