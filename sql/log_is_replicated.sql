-- eventstore.log_is_replicated(): whether this database receives the event log by
-- logical replication (an enabled subscription replicates eventstore.events into it).
--
-- Guarantees: read-only. While true, the log numbers are the publisher's, replicated with
-- eventstore.log: eventstore.number_log numbers nothing here and appends are refused with
-- 25006 (eventstore.check_log_frame), so the subscriber's log stays the publisher's.
-- Disabling or dropping the subscription (the cutover) makes it false.
create or replace function eventstore.log_is_replicated()
returns boolean
language plpgsql
stable
set search_path = pg_catalog, pg_temp
as $$
begin
    -- PL/pgSQL, not SQL: its query is planned once per session, where a SQL function's
    -- body is planned again on every call (number_log and save_checkpoint ask often).
    return exists (
        select
          from pg_catalog.pg_subscription_rel r
          join pg_catalog.pg_subscription s on s.oid = r.srsubid
         where r.srrelid = 'eventstore.events'::pg_catalog.regclass
           and s.subenabled);
end;
$$;

comment on function eventstore.log_is_replicated() is
    'True while an enabled logical subscription replicates eventstore.events into this database.';
