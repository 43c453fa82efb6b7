-- eventstore.stream_version(stream_id): the version of the stream's last event, -1 when
-- the stream has no events.
--
-- Guarantees: one primary-key lookup; ES400 for an invalid stream id.
create or replace function eventstore.stream_version(stream_id text)
returns bigint
language plpgsql
stable
parallel safe
set search_path = pg_catalog, pg_temp
as $$
declare
    p_stream_id alias for $1;
begin
    perform eventstore.check_stream_id(p_stream_id);
    return coalesce(
        (select s.version from eventstore.streams s where s.stream_id = p_stream_id),
        -1);
end;
$$;

comment on function eventstore.stream_version(text) is
    'The version of the stream''s last event (0-based), or -1 when the stream has no events.';
