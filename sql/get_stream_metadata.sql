-- eventstore.get_stream_metadata(stream_id): a stream's metadata and lifecycle state.
--
-- Result: always one row. metadata: the object last stored by set_stream_metadata ({}
-- when none); metadata_version: its version (-1 when none, the value to pass as
-- expected_metadata_version for the first set); deleted: the stream reads as absent
-- because eventstore.delete_stream deleted it and nothing was appended since;
-- tombstoned: eventstore.tombstone_stream made it unwritable for ever; scavenged_before:
-- versions below it may have been removed by eventstore.scavenge.
-- Guarantees: ES400 for an invalid stream id; never ES410 (this is how a tombstone is seen).
create or replace function eventstore.get_stream_metadata(stream_id text)
returns table (
    metadata jsonb,
    metadata_version bigint,
    deleted boolean,
    tombstoned boolean,
    scavenged_before bigint
)
language plpgsql
stable
set search_path = pg_catalog, pg_temp
as $$
begin
    perform eventstore.check_stream_id(get_stream_metadata.stream_id);
    return query
        select coalesce(m.metadata, '{}'::jsonb), coalesce(m.metadata_version, -1),
               coalesce(last.global_position < 0 and last.event_type = '$deleted', false),
               coalesce(m.tombstoned, false), coalesce(m.scavenged_before, 0)
          from (select) one
          left join eventstore.stream_metadata m on m.stream_id = get_stream_metadata.stream_id
          left join lateral (
                select e.global_position, e.event_type
                  from eventstore.events e
                 where e.stream_id = get_stream_metadata.stream_id
                 order by e.version desc
                 limit 1) last on true;
end;
$$;

comment on function eventstore.get_stream_metadata(text) is
    'One row: the stream''s metadata and metadata version, and whether it is deleted, tombstoned, scavenged below a version.';
