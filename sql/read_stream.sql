-- eventstore.read_stream(stream_id, from_version, max_count, backward): up to max_count
-- events of one stream in version order.
--
-- Forward (the default) starts at from_version (NULL means 0); backward starts at
-- from_version and goes down, from the last event when from_version is NULL or -1.
-- Only readable events are returned (eventstore.stream_read_bounds: stream metadata,
-- deletion, scavenging; ES410 for a tombstoned stream).
-- Guarantees: an absent stream reads as no rows; ES400 for an invalid stream id, a NULL
-- direction, a from_version below 0 (below -1 backward) or a max_count outside 1..100000.
create or replace function eventstore.read_stream(
    stream_id text,
    from_version bigint default 0,
    max_count integer default 1000,
    backward boolean default false
)
returns setof eventstore.recorded_event
language plpgsql
stable
set search_path = pg_catalog, pg_temp
-- Its result stays in memory up to 32MB, not a temporary file (docs/operations.md#memory).
set work_mem = '32MB'
-- Its queries read the (stream_id, version) index in order whatever the arguments, so they
-- are planned once per session (a plan for each call's values may sort a bitmap scan's rows).
set plan_cache_mode = force_generic_plan
as $$
declare
    v_bounds eventstore.read_bounds;
begin
    perform eventstore.check_stream_id(read_stream.stream_id);
    perform eventstore.check_max_count(read_stream.max_count);
    if read_stream.backward is null then
        raise exception using
            errcode = 'ES400',
            message = 'backward must be true or false, not NULL';
    end if;
    if read_stream.from_version < (case when read_stream.backward then -1 else 0 end) then
        raise exception using
            errcode = 'ES400',
            message = format('from_version must be >= %s when reading %s, got %s',
                             case when read_stream.backward then -1 else 0 end,
                             case when read_stream.backward then 'backward' else 'forward' end,
                             read_stream.from_version),
            hint = 'Versions are 0-based; read backward from the end with NULL or -1.';
    end if;

    v_bounds := eventstore.stream_read_bounds(read_stream.stream_id);
    if read_stream.backward then
        return query
            select e.stream_id, e.version, e.global_position, e.event_id, e.event_type,
                   eventstore.readable_data(e.data, e.metadata), e.metadata, e.recorded_at
              from eventstore.events e
             where e.stream_id = read_stream.stream_id
               and e.version <= case when read_stream.from_version is null or read_stream.from_version = -1
                                     then 9223372036854775807 else read_stream.from_version end
               and e.version >= v_bounds.from_version
               and e.recorded_at >= coalesce(v_bounds.recorded_after, '-infinity')
             order by e.version desc
             limit read_stream.max_count;
    else
        return query
            select e.stream_id, e.version, e.global_position, e.event_id, e.event_type,
                   eventstore.readable_data(e.data, e.metadata), e.metadata, e.recorded_at
              from eventstore.events e
             where e.stream_id = read_stream.stream_id
               and e.version >= greatest(read_stream.from_version, v_bounds.from_version)
               and e.recorded_at >= coalesce(v_bounds.recorded_after, '-infinity')
             order by e.version
             limit read_stream.max_count;
    end if;
end;
$$;

comment on function eventstore.read_stream(text, bigint, integer, boolean) is
    'Reads up to max_count events of a stream, forward from from_version or backward from it (NULL/-1: the end).';
