-- eventstore.load_snapshot(stream_id): the stream's stored snapshot.
--
-- Guarantees: one row when a snapshot is stored, none otherwise; ES400 for an invalid
-- stream id.
create or replace function eventstore.load_snapshot(stream_id text)
returns table (version bigint, state jsonb, schema_version integer, recorded_at timestamptz)
language plpgsql
stable
set search_path = pg_catalog, pg_temp
as $$
declare
    p_stream_id alias for $1;
begin
    perform eventstore.check_stream_id(p_stream_id);
    return query
        select s.version, s.state, s.schema_version, s.recorded_at
          from eventstore.snapshots s
         where s.stream_id = p_stream_id;
end;
$$;

comment on function eventstore.load_snapshot(text) is
    'The stream''s snapshot (version, state, schema_version, recorded_at), or no row.';
