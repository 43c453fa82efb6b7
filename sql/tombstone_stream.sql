-- eventstore.tombstone_stream(stream_id, expected_version): hard delete, for ever.
--
-- Guarantees (eventstore.retire_stream): from the commit on, every append to the stream
-- fails with ES410, and so do read_stream, load_stream, load_snapshot, stream_version and
-- set_stream_metadata; get_stream_metadata shows tombstoned = true; the log readers skip
-- its events. An absent stream may be tombstoned too (its id is then never usable).
-- eventstore.scavenge removes its events. ES409 wrong expected version, ES410 already
-- tombstoned, ES400 invalid arguments.
create or replace function eventstore.tombstone_stream(stream_id text, expected_version bigint default null)
returns bigint
language sql
volatile
set search_path = pg_catalog, pg_temp
return eventstore.retire_stream(tombstone_stream.stream_id, tombstone_stream.expected_version, true);

comment on function eventstore.tombstone_stream(text, bigint) is
    'Tombstone: the stream can never be written or read again; returns the tombstone''s version.';
