-- eventstore.stream_read_bounds(stream_id): which of a stream's events are readable, for
-- the readers of one stream (read_stream, load_stream, load_snapshot).
--
-- Guarantees: from_version is the first readable version: 0 for a stream without a row in
-- eventstore.stream_metadata; otherwise the greatest of truncate_before, the version
-- after its deletion placeholder, the version after what scavenging removed, and, with
-- max_count n, the stream's last version - n + 1. recorded_after is now() - max_age (NULL
-- without max_age): events recorded earlier are not readable. A snapshot is usable when
-- its version is at least from_version and it was saved at or after recorded_after.
-- The log readers apply the same rules (read_all, read_category). ES410 for a tombstoned
-- stream.
create or replace function eventstore.stream_read_bounds(stream_id text)
returns eventstore.read_bounds
language plpgsql
stable
set search_path = pg_catalog, pg_temp
as $$
declare
    v_metadata eventstore.stream_metadata;
    v_bounds eventstore.read_bounds;
begin
    select m.* into v_metadata from eventstore.stream_metadata m where m.stream_id = stream_read_bounds.stream_id;
    if not found then
        v_bounds.from_version := 0;
        return v_bounds;
    end if;
    if v_metadata.tombstoned then
        if eventstore.placeholder_version(stream_read_bounds.stream_id, null, '$tombstone') is null then end if;
    end if;
    v_bounds.from_version := v_metadata.version_floor;
    if v_metadata.max_count is not null then
        v_bounds.from_version := greatest(
            v_bounds.from_version,
            (select e.version from eventstore.events e
              where e.stream_id = stream_read_bounds.stream_id
              order by e.version desc limit 1) - v_metadata.max_count + 1);
    end if;
    v_bounds.recorded_after := now() - v_metadata.max_age;
    return v_bounds;
end;
$$;

comment on function eventstore.stream_read_bounds(text) is
    'The first readable version and the oldest readable recorded_at of a stream (its metadata, deletion and scavenging); ES410 if tombstoned.';
