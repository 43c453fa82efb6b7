-- 0006: appends take no advisory lock; append_event is written in PL/pgSQL.
--
-- Every append used to take its stream's transaction-scoped advisory lock (key
-- eventstore.stream_lock_key) before it read the stream. Writers racing on one stream then
-- queued on the lock and failed one after the other, each holding it while it reported
-- its ES409. Appends now let the unique index on (stream_id, version) decide: the first
-- event of an append is inserted with its version as the arbiter, so of two writers that
-- read the same version one stores it and the other waits for that transaction, as for
-- any unique key, and then finds the version taken (docs/performance.md measures both).
-- The lock key function has no use left.
drop function if exists eventstore.stream_lock_key(text);

-- append_event used to build a one-event batch and call append_to_stream from a
-- SQL-standard body, declared RETURNS TABLE. It now appends the common one-event call
-- itself and returns its row through OUT parameters, as append_to_stream does since 0005;
-- the columns callers see are the same. CREATE OR REPLACE cannot change a result type, so
-- it is dropped here and its function file, applied right after the migrations, creates
-- it again. Until the function files have run, appends fail (the old append_to_stream
-- calls the dropped lock key function): upgrade with `pgeventstore migrate`, which runs
-- both, or with the DBA script, which runs both in one transaction.
drop function if exists eventstore.append_event(text, bigint, text, jsonb, jsonb, uuid);

insert into eventstore.schema_migrations (migration_id) values ('0006.appends-without-locks');
