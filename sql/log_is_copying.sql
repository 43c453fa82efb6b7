-- eventstore.log_is_copying(): whether a logical subscription is still copying the event
-- log into this database: its initial copy of eventstore.events or eventstore.log (or of
-- one added later by ALTER SUBSCRIPTION ... REFRESH PUBLICATION) is not over.
--
-- The initial copy goes table by table, each from its own snapshot of the publisher, and
-- then catches up on its own: until every table is ready, the log can name events that
-- are not copied yet while later events already are, and a reader continuing from the
-- last number it got would skip the missing ones for ever. Once both tables are ready,
-- one worker applies the publisher's transactions in commit order and the log never
-- names an event that is not there. Guarantees: read-only; the global log readers
-- (eventstore.read_all, read_category, log_head) read nothing while it is true, enabled
-- subscription or not.
-- PL/pgSQL, not a SQL body: every page of those readers asks, and PostgreSQL plans a
-- SQL function's query anew on each call, where PL/pgSQL keeps the plan for the session.
create or replace function eventstore.log_is_copying()
returns boolean
language plpgsql
stable
set search_path = pg_catalog, pg_temp
as $$
begin
    return exists (
        select
          from pg_catalog.pg_subscription_rel r
          join pg_catalog.pg_class c on c.oid = r.srrelid
         where c.relnamespace = 'eventstore'::pg_catalog.regnamespace
           and c.relname in ('events', 'log')
           and r.srsubstate <> 'r');
end;
$$;

comment on function eventstore.log_is_copying() is
    'True while a logical subscription''s copy of eventstore.events or eventstore.log is not over: the log readers read nothing then.';
