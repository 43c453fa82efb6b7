-- eventstore.load_snapshot(stream_id): the stream's stored snapshot.
--
-- Guarantees: one row when a snapshot is stored and usable (eventstore.stream_read_bounds:
-- not older than the stream's first readable version, nor saved before its max_age), none
-- otherwise; ES400 for an invalid stream id; ES410 for a tombstoned stream.
create or replace function eventstore.load_snapshot(stream_id text)
returns table (version bigint, state jsonb, schema_version integer, recorded_at timestamptz)
language plpgsql
stable
set search_path = pg_catalog, pg_temp
as $$
declare
    v_bounds eventstore.read_bounds;
begin
    perform eventstore.check_stream_id(load_snapshot.stream_id);
    v_bounds := eventstore.stream_read_bounds(load_snapshot.stream_id);
    return query
        select s.version, s.state, s.schema_version, s.recorded_at
          from eventstore.snapshots s
         where s.stream_id = load_snapshot.stream_id
           and s.version >= v_bounds.from_version
           and (v_bounds.recorded_after is null or s.recorded_at >= v_bounds.recorded_after);
end;
$$;

comment on function eventstore.load_snapshot(text) is
    'The stream''s snapshot (version, state, schema_version, recorded_at), or no row.';
