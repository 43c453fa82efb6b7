-- eventstore.read_versioned(stream_id, gt, lte, backward, max_count): up to max_count
-- events of a stream written by eventstore.append_versioned whose originator version
-- (metadata.originator_version) is above gt and at most lte (NULL: unbounded), in version
-- order, or from the newest down when backward.
--
-- Guarantees: exactly those events; an absent stream reads as no rows; ES400 for an
-- invalid stream id, a NULL backward or a max_count outside 1..100000.
-- Originator versions are strictly increasing integers along the stream's versions, so
-- the event at version v has an originator version between first + v and last - (L - v)
-- (first and last: those of the stream's first and last event; L: its last version).
-- That bounds the range of versions read: when the originator versions are consecutive,
-- as the eventsourcing library's aggregates number them, the range is exact and the read
-- costs what eventstore.read_stream costs.
create or replace function eventstore.read_versioned(
    stream_id text,
    gt bigint default null,
    lte bigint default null,
    backward boolean default false,
    max_count integer default 1000
)
returns setof eventstore.recorded_event
language plpgsql
stable
set search_path = pg_catalog, pg_temp
-- Its result stays in memory up to 32MB, not a temporary file (docs/operations.md#memory).
set work_mem = '32MB'
as $$
declare
    v_first numeric;
    v_last numeric;
    v_last_version bigint;
    v_low numeric := 0;
    v_high numeric;
begin
    perform eventstore.check_stream_id(read_versioned.stream_id);
    perform eventstore.check_max_count(read_versioned.max_count);
    if read_versioned.backward is null then
        raise exception using
            errcode = 'ES400',
            message = 'backward must be true or false, not NULL';
    end if;
    select (e.metadata ->> 'originator_version')::numeric into v_first
      from eventstore.events e
     where e.stream_id = read_versioned.stream_id and e.version = 0;
    if not found then
        return;
    end if;
    select e.version, (e.metadata ->> 'originator_version')::numeric into v_last_version, v_last
      from eventstore.events e
     where e.stream_id = read_versioned.stream_id
     order by e.version desc
     limit 1;
    v_high := v_last_version;
    if read_versioned.gt is not null then
        v_low := greatest(v_low, read_versioned.gt - (v_last - v_last_version) + 1);
    end if;
    if read_versioned.lte is not null then
        v_high := least(v_high, read_versioned.lte - v_first);
    end if;
    if v_low > v_high then
        return;
    end if;

    if read_versioned.backward then
        return query
            select e.stream_id, e.version, e.global_position, e.event_id, e.event_type,
                   e.data, e.metadata, e.recorded_at
              from eventstore.events e
             where e.stream_id = read_versioned.stream_id
               and e.version between v_low::bigint and v_high::bigint
               and (read_versioned.gt is null
                    or (e.metadata ->> 'originator_version')::numeric > read_versioned.gt)
               and (read_versioned.lte is null
                    or (e.metadata ->> 'originator_version')::numeric <= read_versioned.lte)
             order by e.version desc
             limit read_versioned.max_count;
    else
        return query
            select e.stream_id, e.version, e.global_position, e.event_id, e.event_type,
                   e.data, e.metadata, e.recorded_at
              from eventstore.events e
             where e.stream_id = read_versioned.stream_id
               and e.version between v_low::bigint and v_high::bigint
               and (read_versioned.gt is null
                    or (e.metadata ->> 'originator_version')::numeric > read_versioned.gt)
               and (read_versioned.lte is null
                    or (e.metadata ->> 'originator_version')::numeric <= read_versioned.lte)
             order by e.version
             limit read_versioned.max_count;
    end if;
end;
$$;

comment on function eventstore.read_versioned(text, bigint, bigint, boolean, integer) is
    'Events of a stream written by append_versioned whose originator version is in (gt, lte], in version order or backward.';
