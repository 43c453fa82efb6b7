-- eventstore.load_stream(stream_id, schema_version): everything needed to rebuild a
-- stream's state, in one call.
--
-- Result: first, when a snapshot is usable (any snapshot when schema_version is NULL,
-- otherwise only one of that schema version), one row with kind = 'snapshot', version =
-- the snapshot's version, data = its state, snapshot_schema_version and recorded_at set; then one
-- row with kind = 'event' for every event after it (all events when no snapshot is
-- usable), in version order, with the columns of eventstore.recorded_event. The last
-- row's version is the stream's version; an absent stream gives no rows.
-- Only readable events count, and a snapshot only when it is usable
-- (eventstore.stream_read_bounds: not older than the first readable version, nor saved
-- before max_age); ES410 for a tombstoned stream.
-- Guarantees: one round trip whatever the stream's length; ES400 for an invalid stream id.
create or replace function eventstore.load_stream(
    stream_id text,
    schema_version integer default null
)
returns table (
    kind text,
    version bigint,
    global_position bigint,
    event_id uuid,
    event_type text,
    data jsonb,
    metadata jsonb,
    recorded_at timestamptz,
    snapshot_schema_version integer
)
language plpgsql
stable
set search_path = pg_catalog, pg_temp
-- Its result stays in memory up to 32MB, not a temporary file (docs/operations.md#memory).
set work_mem = '32MB'
as $$
declare
    v_snapshot_version bigint;
    v_bounds eventstore.read_bounds;
begin
    perform eventstore.check_stream_id(load_stream.stream_id);
    v_bounds := eventstore.stream_read_bounds(load_stream.stream_id);

    select 'snapshot', s.version, s.state, s.recorded_at, s.schema_version
      into kind, version, data, recorded_at, snapshot_schema_version
      from eventstore.snapshots s
     where s.stream_id = load_stream.stream_id
       and (load_stream.schema_version is null or s.schema_version = load_stream.schema_version)
       and s.version >= v_bounds.from_version
       and (v_bounds.recorded_after is null or s.recorded_at >= v_bounds.recorded_after);
    if found then
        v_snapshot_version := version;
        return next;
    end if;

    return query
        select 'event', e.version, e.global_position, e.event_id, e.event_type,
               eventstore.readable_data(e.data, e.metadata), e.metadata, e.recorded_at, null::integer
          from eventstore.events e
         where e.stream_id = load_stream.stream_id
           and e.version > coalesce(v_snapshot_version, -1)
           and e.version >= v_bounds.from_version
           and (v_bounds.recorded_after is null or e.recorded_at >= v_bounds.recorded_after)
         order by e.version;
end;
$$;

comment on function eventstore.load_stream(text, integer) is
    'The usable snapshot (kind = ''snapshot'') followed by every later event (kind = ''event''), in one call.';
