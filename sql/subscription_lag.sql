-- eventstore.subscription_lag(): for every saved checkpoint, how far its subscription is
-- behind the head of the global log, and what holds its readers back.
--
-- events_behind: committed events (visible to the caller) after the checkpoint in the
-- global log order. events_held_back: those of them no reader can be given yet, because
-- a transaction older than theirs is still open (the xmin rule of eventstore.read_all).
-- When events are held back, held_back_by_pid and held_back_since name the backend with
-- the oldest open transaction id in the cluster (pg_stat_activity.backend_xid; any
-- database counts) and when its transaction started: commit, roll back or end it and the
-- readers move on. They are NULL when nothing is held back, when the oldest transaction
-- is a prepared one (see pg_prepared_xacts), or when the function's owner may not see
-- that backend in pg_stat_activity (grant it pg_read_all_stats).
-- Guarantees: read-only; counts scan the events after each checkpoint.
create or replace function eventstore.subscription_lag()
returns table (
    subscription text,
    "position" bigint,
    events_behind bigint,
    events_held_back bigint,
    held_back_by_pid integer,
    held_back_since timestamptz,
    updated_at timestamptz
)
language sql
stable
set search_path = pg_catalog, pg_temp
begin atomic
    with snapshot as (
        select pg_snapshot_xmin(pg_current_snapshot()) as xmin
    ),
    oldest as (
        select a.pid, a.xact_start
          from pg_stat_activity a
         where a.backend_xid is not null
         order by age(a.backend_xid) desc
         limit 1
    ),
    lag as (
        select c.subscription, c.position, c.updated_at,
               (select count(*)
                  from eventstore.events e
                 where (e.transaction_id, e.global_position)
                       > (coalesce(ce.transaction_id, '0'::xid8), c.position)) as behind,
               (select count(*)
                  from eventstore.events e, snapshot s
                 where (e.transaction_id, e.global_position)
                       > (coalesce(ce.transaction_id, '0'::xid8), c.position)
                   and e.transaction_id >= s.xmin) as held_back
          from eventstore.checkpoints c
          left join eventstore.events ce on ce.global_position = c.position
    )
    select l.subscription, l.position, l.behind, l.held_back,
           case when l.held_back > 0 then o.pid end,
           case when l.held_back > 0 then o.xact_start end,
           l.updated_at
      from lag l
      left join oldest o on true
     order by l.subscription;
end;

comment on function eventstore.subscription_lag() is
    'Per checkpoint: events behind the head, events held back by an open older transaction, and that backend (pid, xact_start).';
