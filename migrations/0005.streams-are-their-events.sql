-- 0005: a stream is its events; the append checks the log order itself.
--
-- eventstore.streams held one row per stream: its version, when it was created and last
-- written, and the newest transaction id recorded in it. Each of these is one of the
-- stream's events' columns (the last event's version, recorded_at and transaction_id, the
-- first event's recorded_at), and keeping the row cost every append a second write
-- (docs/performance.md). eventstore.append_to_stream now reads the stream's last event
-- through the (stream_id, version) index, under the stream's advisory lock.
--
-- Streams listed newest first (eventstore.list_streams) and counted (eventstore.stats)
-- are found by their first event. Building this index reads the whole events table and
-- blocks appends meanwhile (about a second per million events here): upgrade a large
-- store in a quiet moment.
create index events_stream_created_idx
    on eventstore.events (recorded_at, stream_id)
    where version = 0;

-- The statement trigger that refused inserts while the cluster's transaction ids were
-- behind the stored ones (ES503) ran a trigger function per INSERT; append_to_stream now
-- makes the same check in the statement that reads the stream. On a new install the
-- function files have not created them yet.
drop trigger if exists events_check_log_order on eventstore.events;
drop function if exists eventstore.check_log_order();

drop table eventstore.streams;

-- append_to_stream returns its one row through OUT parameters instead of RETURNS TABLE (no
-- tuplestore per call; the columns callers see are the same). CREATE OR REPLACE cannot
-- change a result type, so it is dropped here with append_event, whose SQL-standard body
-- depends on it; the function files, applied right after the migrations, create both
-- again. Until they have run, appends fail: upgrade with `pgeventstore migrate`, which
-- does both in one run, or with the DBA script, which does both in one transaction.
drop function if exists eventstore.append_event(text, bigint, text, jsonb, jsonb, uuid);
drop function if exists eventstore.append_to_stream(text, bigint, jsonb);

-- raise_wrong_expected_version takes the actual version its caller already read; the old
-- signature would stay behind as an overload.
drop function if exists eventstore.raise_wrong_expected_version(text, bigint, text);

insert into eventstore.schema_migrations (migration_id) values ('0005.streams-are-their-events');
