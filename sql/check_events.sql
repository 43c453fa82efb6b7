-- eventstore.check_events(events): validates a batch for append_to_stream and returns
-- its explicit event ids: an array as long as the batch, NULL where an event has none, or
-- NULL altogether when no event has one.
--
-- Guarantees: returns only for a non-empty JSON array of at most 10,000 objects, at most
-- 64 MiB in all, whose keys are type (string, 1 to 255 characters), data (required, any
-- JSON, at most 1 MiB), metadata (optional object or null, at most 1 MiB) and id
-- (optional canonical uuid string or null), with no id given twice; otherwise raises
-- ES400 naming the first offending event (0-based index), with DETAIL a JSON object
-- {"event_index": i, "problem": "..."} for programs that point at the event. Sizes are of the jsonb value
-- uncompressed (pg_column_size of it as a literal), also for a batch read from a table,
-- which arrives compressed or out of line; the batch is decompressed once, not once per
-- event. This is the one home of the batch rules; eventstore.is_plain_batch is a cheaper
-- test that admits a subset.
create or replace function eventstore.check_events(events jsonb)
returns uuid[]
language plpgsql
stable
parallel safe
set search_path = pg_catalog, pg_temp
as $$
declare
    v_events jsonb;
    event_count integer;
    ids uuid[];
    id_count integer := 0;
    v_event jsonb;
    v_problem text;
    v_id text;
begin
    -- #> '{}' is the value itself, decompressed: its size is the size the rules mean, and
    -- reading an event from it does not decompress the whole batch again.
    v_events := check_events.events #> '{}';
    if v_events is null or jsonb_typeof(v_events) <> 'array' then
        raise exception using
            errcode = 'ES400',
            message = 'events must be a JSON array of event objects',
            hint = 'Pass e.g. ''[{"type": "OrderPlaced", "data": {"total": 100}}]''.';
    end if;
    event_count := jsonb_array_length(v_events);
    if event_count = 0 then
        raise exception using
            errcode = 'ES400',
            message = 'events must not be empty',
            hint = 'Pass at least one event; to check a version without writing, use eventstore.stream_version.';
    end if;
    if event_count > 10000 then
        raise exception using
            errcode = 'ES400',
            message = format('a batch holds at most 10000 events, got %s', event_count),
            hint = 'Split the batch into several appends, each with the expected version the previous one returned.';
    end if;
    if pg_column_size(v_events) > 67108864 then
        raise exception using
            errcode = 'ES400',
            message = format('a batch holds at most 64 MiB of JSON, got %s bytes', pg_column_size(v_events)),
            hint = 'Split the batch into several appends, each with the expected version the previous one returned.';
    end if;

    for i in 0 .. event_count - 1 loop
        v_event := v_events -> i;
        v_problem := case
            when jsonb_typeof(v_event) <> 'object' then
                'is not a JSON object'
            when v_event - '{type,data,metadata,id}'::text[] <> '{}'::jsonb then
                'has an unknown key'
            when jsonb_typeof(v_event -> 'type') is distinct from 'string'
                 or length(v_event ->> 'type') not between 1 and 255 then
                'needs "type": a string of 1 to 255 characters'
            when not v_event ? 'data' then
                'needs "data" (use null for an event without data)'
            when pg_column_size(v_event -> 'data') > 1048576 then
                'has "data" larger than 1 MiB'
            when jsonb_typeof(v_event -> 'metadata') not in ('object', 'null') then
                'has "metadata" that is not a JSON object'
            when pg_column_size(v_event -> 'metadata') > 1048576 then
                'has "metadata" larger than 1 MiB'
            when jsonb_typeof(v_event -> 'id') not in ('string', 'null')
                 or (v_event ->> 'id') !~*
                    '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' then
                'has an "id" that is not a UUID string like ''5f0c1d9e-8a4b-4c3e-9f1a-2b3c4d5e6f70'''
        end;
        if v_problem is not null then
            if v_problem = 'has an unknown key' then
                v_problem := format('has an unknown key %s (allowed: type, data, metadata, id)',
                                    (select min(k) from jsonb_object_keys(v_event - '{type,data,metadata,id}'::text[]) k));
            end if;
            raise exception using
                errcode = 'ES400',
                message = format('event %s %s', i, v_problem),
                detail = jsonb_build_object('event_index', i, 'problem', v_problem)::text,
                hint = 'Each event is an object with "type", "data" and optionally "metadata" and "id".';
        end if;
        v_id := v_event ->> 'id';
        if v_id is not null then
            if ids is null then
                ids := array_fill(null::uuid, array[event_count]);
            end if;
            ids[i + 1] := v_id::uuid;
            id_count := id_count + 1;
        end if;
    end loop;

    -- Nested: a condition holding a subquery is a whole query, even when it is not needed.
    if id_count > 1 then
        if id_count > (select count(distinct x.id) from unnest(ids) x(id)) then
            raise exception using
                errcode = 'ES400',
                message = 'the batch gives the same event id to more than one event',
                hint = 'Give every event in a batch its own id.';
        end if;
    end if;
    return ids;
end;
$$;

comment on function eventstore.check_events(jsonb) is
    'Validates an append batch (ES400 on the first bad event) and returns its explicit event ids (NULL: none).';
