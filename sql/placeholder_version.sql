-- eventstore.placeholder_version(stream_id, version, event_type): the version a stream is
-- at when its last row is a placeholder (migrations/0010.stream-lifecycle.sql), not an event.
--
-- Guarantees: after '$deleted' the stream reads as absent: -1. After '$scavenged' the
-- stream is at that version (scavenging removed its last event, not its version).
-- '$tombstone' raises ES410: the stream is tombstoned and can never be read or written.
create or replace function eventstore.placeholder_version(stream_id text, version bigint, event_type text)
returns bigint
language plpgsql
stable
set search_path = pg_catalog, pg_temp
as $$
begin
    if placeholder_version.event_type = '$tombstone' then
        raise exception using
            errcode = 'ES410',
            message = format('stream %s is tombstoned: it can never be written or read again',
                             quote_literal(placeholder_version.stream_id)),
            hint = 'A tombstone is final: use another stream id.';
    end if;
    if placeholder_version.event_type = '$deleted' then
        return -1;
    end if;
    return placeholder_version.version;
end;
$$;

comment on function eventstore.placeholder_version(text, bigint, text) is
    'The version of a stream whose last row is a placeholder: -1 after a deletion, ES410 after a tombstone.';
