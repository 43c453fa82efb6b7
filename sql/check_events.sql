-- eventstore.check_events(events): validates a batch for append_to_stream and returns
-- its size, its explicit event ids (NULL where an event has none) and how many there are.
--
-- Guarantees: returns only for a non-empty JSON array of at most 10,000 objects whose keys
-- are type (string, 1 to 255 characters), data (required, any JSON, at most 1 MiB),
-- metadata (optional object or null, at most 1 MiB) and id (optional canonical uuid
-- string or null), at most 64 MiB in all,
-- with no id given twice; otherwise raises ES400 naming the first offending event
-- (0-based index).
create or replace function eventstore.check_events(events jsonb)
returns table (event_count integer, ids uuid[], id_count integer)
language plpgsql
immutable
parallel safe
set search_path = pg_catalog, pg_temp
as $$
declare
    p_events alias for $1;
    v_problem_index bigint;
    v_problem text;
    v_distinct_ids integer;
begin
    if p_events is null or jsonb_typeof(p_events) <> 'array' then
        raise exception using
            errcode = 'ES400',
            message = 'events must be a JSON array of event objects',
            hint = 'Pass e.g. ''[{"type": "OrderPlaced", "data": {"total": 100}}]''.';
    end if;
    event_count := jsonb_array_length(p_events);
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
    if pg_column_size(p_events) > 67108864 then
        raise exception using
            errcode = 'ES400',
            message = format('a batch holds at most 64 MiB of JSON, got %s bytes', pg_column_size(p_events)),
            hint = 'Split the batch into several appends, each with the expected version the previous one returned.';
    end if;

    select min(y.n) filter (where y.problem is not null) - 1,
           (array_agg(y.problem order by y.n) filter (where y.problem is not null))[1],
           array_agg(case when y.problem is null then (y.event ->> 'id')::uuid end order by y.n),
           count(y.event ->> 'id'),
           count(distinct case when y.problem is null then (y.event ->> 'id')::uuid end)
      into v_problem_index, v_problem, ids, id_count, v_distinct_ids
      from (
        select t.n, t.event,
               case
                 when jsonb_typeof(t.event) <> 'object' then
                     'is not a JSON object'
                 when t.event - '{type,data,metadata,id}'::text[] <> '{}'::jsonb then
                     format('has an unknown key %s (allowed: type, data, metadata, id)',
                            (select min(k) from jsonb_object_keys(t.event - '{type,data,metadata,id}'::text[]) k))
                 when jsonb_typeof(t.event -> 'type') is distinct from 'string'
                      or length(t.event ->> 'type') not between 1 and 255 then
                     'needs "type": a string of 1 to 255 characters'
                 when not t.event ? 'data' then
                     'needs "data" (use null for an event without data)'
                 when pg_column_size(t.event -> 'data') > 1048576 then
                     'has "data" larger than 1 MiB'
                 when jsonb_typeof(t.event -> 'metadata') not in ('object', 'null') then
                     'has "metadata" that is not a JSON object'
                 when pg_column_size(t.event -> 'metadata') > 1048576 then
                     'has "metadata" larger than 1 MiB'
                 when jsonb_typeof(t.event -> 'id') not in ('string', 'null')
                      or (t.event ->> 'id') !~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' then
                     'has an "id" that is not a UUID string like ''5f0c1d9e-8a4b-4c3e-9f1a-2b3c4d5e6f70'''
               end as problem
          from jsonb_array_elements(p_events) with ordinality as t(event, n)
      ) y;

    if v_problem_index is not null then
        raise exception using
            errcode = 'ES400',
            message = format('event %s %s', v_problem_index, v_problem),
            hint = 'Each event is an object with "type", "data" and optionally "metadata" and "id".';
    end if;
    if v_distinct_ids < id_count then
        raise exception using
            errcode = 'ES400',
            message = 'the batch gives the same event id to more than one event',
            hint = 'Give every event in a batch its own id.';
    end if;
    return next;
end;
$$;

comment on function eventstore.check_events(jsonb) is
    'Validates an append batch (ES400 on the first bad event) and returns its size and explicit event ids.';
