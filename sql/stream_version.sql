-- eventstore.stream_version(stream_id): the version of the stream's last event, -1 when
-- the stream has no events.
--
-- Guarantees: one probe of the (stream_id, version) index for the stream's last event;
-- ES400 for an invalid stream id. A stream deleted by eventstore.delete_stream (and not
-- appended to since) is at -1; a tombstoned one raises ES410
-- (eventstore.placeholder_version).
create or replace function eventstore.stream_version(stream_id text)
returns bigint
language plpgsql
stable
parallel safe
set search_path = pg_catalog, pg_temp
as $$
begin
    -- The inlined rule first: this function also reads the actual version of every ES409,
    -- and a call of check_stream_id costs more than the read.
    if not eventstore.stream_id_is_valid(stream_version.stream_id) then
        perform eventstore.check_stream_id(stream_version.stream_id);
    end if;
    return coalesce(
        (select case when e.global_position > 0 then e.version
                     else eventstore.placeholder_version(stream_version.stream_id, e.version,
                                                         e.event_type) end
           from eventstore.events e
          where e.stream_id = stream_version.stream_id
          order by e.version desc
          limit 1),
        -1);
end;
$$;

comment on function eventstore.stream_version(text) is
    'The version of the stream''s last event (0-based), or -1 when the stream has no events.';
