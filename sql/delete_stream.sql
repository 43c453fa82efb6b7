-- eventstore.delete_stream(stream_id, expected_version): soft delete.
--
-- Guarantees (eventstore.retire_stream): from the commit on, the stream reads as absent
-- (read_stream, load_stream and load_snapshot return nothing, stream_version -1, the log
-- readers skip its events); an append expecting -1 or any version (NULL) starts it again,
-- and its new versions follow the deleted ones (the returned version, the deletion's
-- placeholder, is also accepted as expected version). The deleted events stay stored
-- until eventstore.scavenge removes them. ES409 wrong expected version, ES404 a stream
-- that reads as absent, ES410 a tombstoned stream, ES400 invalid arguments.
create or replace function eventstore.delete_stream(stream_id text, expected_version bigint default null)
returns bigint
language sql
volatile
set search_path = pg_catalog, pg_temp
return eventstore.retire_stream(delete_stream.stream_id, delete_stream.expected_version, false);

comment on function eventstore.delete_stream(text, bigint) is
    'Soft delete: the stream reads as absent until appended to again (versions continue); returns the deletion''s version.';
