-- 0006: append_event is written in PL/pgSQL and returns one row.
--
-- It used to build a one-event batch and call append_to_stream from a SQL-standard body,
-- declared RETURNS TABLE. It now appends the common one-event call itself
-- (docs/performance.md) and returns its row through OUT parameters, as append_to_stream
-- does since 0005; the columns callers see are the same. CREATE OR REPLACE cannot change
-- a result type, so it is dropped here and its function file, applied right after the
-- migrations, creates it again. Until that file has run, append_event fails: upgrade with
-- `pgeventstore migrate`, which runs both, or with the DBA script, which runs both in
-- one transaction.
drop function if exists eventstore.append_event(text, bigint, text, jsonb, jsonb, uuid);

insert into eventstore.schema_migrations (migration_id) values ('0006.append-event-one-row');
