-- read_stream: forward and backward pages, from_version, max_count, absent streams, the
-- recorded_event columns; stream_version.
begin;
select plan(27);

select eventstore.append_to_stream('acct-1', -1,
    (select jsonb_agg(jsonb_build_object('type', 'T' || i, 'data', i, 'metadata', jsonb_build_object('n', i)) order by i)
       from generate_series(0, 9) i));
select eventstore.append_to_stream('acct-2', -1, '[{"type": "Other", "data": "x"}]');

select is(eventstore.stream_version('acct-1'), 9::bigint, 'stream_version of a ten-event stream');
select is(eventstore.stream_version('acct-absent'), -1::bigint, 'stream_version of an absent stream is -1');

-- The row type.
select has_type('eventstore', 'recorded_event', 'the recorded_event type exists');
select columns_are('eventstore', 'recorded_event',
    array['stream_id', 'version', 'global_position', 'event_id', 'event_type', 'data', 'metadata', 'recorded_at'],
    'recorded_event has exactly the documented columns');
select function_returns('eventstore', 'read_stream', array['text', 'bigint', 'integer', 'boolean'],
                        'setof eventstore.recorded_event', 'read_stream returns setof eventstore.recorded_event');
select results_eq(
    $$select stream_id collate "default", version, global_position, event_id, event_type collate "default",
             data, metadata, recorded_at
        from eventstore.read_stream('acct-1')$$,
    $$select stream_id collate "default", version, global_position, event_id, event_type collate "default",
             data, metadata, recorded_at
        from eventstore.events where stream_id = 'acct-1' order by version$$,
    'the default read returns every event of the stream with every column, in version order');

-- Forward.
select results_eq($$select version from eventstore.read_stream('acct-1', 3)$$,
                  $$select generate_series(3::bigint, 9)$$, 'forward from version 3');
select results_eq($$select version from eventstore.read_stream('acct-1', 3, 4)$$,
                  $$select generate_series(3::bigint, 6)$$, 'forward from 3, at most 4');
select results_eq($$select version from eventstore.read_stream('acct-1', null, 2)$$,
                  $$values (0::bigint), (1)$$, 'forward from NULL starts at 0');
select results_eq($$select version from eventstore.read_stream('acct-1', 9)$$,
                  $$values (9::bigint)$$, 'forward from the last version');
select is_empty($$select * from eventstore.read_stream('acct-1', 10)$$, 'forward past the end: no rows');
select results_eq($$select version from eventstore.read_stream(stream_id => 'acct-1', max_count => 1)$$,
                  $$values (0::bigint)$$, 'named arguments: max_count 1');
select results_eq($$select version from eventstore.read_stream('acct-1', 0, 100000)$$,
                  $$select generate_series(0::bigint, 9)$$, 'the largest page size');

-- Backward.
select results_eq($$select version from eventstore.read_stream('acct-1', null, 3, true)$$,
                  $$values (9::bigint), (8), (7)$$, 'backward from NULL starts at the last event');
select results_eq($$select version from eventstore.read_stream('acct-1', -1, 2, true)$$,
                  $$values (9::bigint), (8)$$, 'backward from -1 starts at the last event');
select results_eq($$select version from eventstore.read_stream('acct-1', 4, 1000, true)$$,
                  $$values (4::bigint), (3), (2), (1), (0)$$, 'backward from version 4 to the start');
select results_eq($$select version from eventstore.read_stream('acct-1', 0, 10, true)$$,
                  $$values (0::bigint)$$, 'backward from 0: only the first event');
select results_eq($$select version from eventstore.read_stream('acct-1', 50, 2, true)$$,
                  $$values (9::bigint), (8)$$, 'backward from beyond the end starts at the last event');
select results_eq($$select version from eventstore.read_stream(stream_id => 'acct-1', backward => true, max_count => 2)$$,
                  $$values (0::bigint)$$, 'backward with the default from_version (0) reads only version 0');
select results_eq($$select global_position from eventstore.read_stream('acct-1', null, 1000, true)$$,
                  $$select global_position from eventstore.events where stream_id = 'acct-1' order by version desc$$,
                  'backward returns global positions in descending version order');

-- Absent streams and other streams.
select is_empty($$select * from eventstore.read_stream('acct-absent')$$, 'an absent stream reads as no rows');
select is_empty($$select * from eventstore.read_stream('acct-absent', null, 10, true)$$,
                'an absent stream reads as no rows backward');
select is_empty($$select * from eventstore.read_stream('acct')$$, 'a category name is not a stream');
select results_eq($$select event_type collate "default", data from eventstore.read_stream('acct-2')$$,
                  $$values ('Other'::text, '"x"'::jsonb)$$, 'another stream reads only its own events');

-- Contents survive the round trip.
select results_eq($$select event_type collate "default", data, metadata from eventstore.read_stream('acct-1', 5, 1)$$,
                  $$values ('T5'::text, '5'::jsonb, '{"n": 5}'::jsonb)$$, 'type, data and metadata as appended');

-- Paging forward with the last version read + 1 visits every event once.
create temp table paged (version bigint);
do $$
declare
    v_next bigint := 0;
    v_last bigint;
begin
    loop
        insert into paged select r.version from eventstore.read_stream('acct-1', v_next, 3) r;
        select max(version) into v_last from paged;
        exit when v_last is null or v_last < v_next;
        v_next := v_last + 1;
    end loop;
end;
$$;
select results_eq($$select version from paged order by version$$, $$select generate_series(0::bigint, 9)$$,
                  'pages of 3 from the last version + 1 cover the stream once');
select is((select count(*) from paged), 10::bigint, 'no event is read twice');

select * from finish();
rollback;
