-- eventstore.subscription_lag(): for every saved checkpoint, how far its subscription is
-- behind the head of the global log, and what holds its readers back.
--
-- It numbers what is readable first (eventstore.number_log). events_behind: the log
-- numbers after the checkpoint, plus the committed events (visible to the caller) not
-- numbered yet. events_held_back: those of them no reader can be given yet, because a
-- transaction older than theirs is still open (the readability rule of
-- eventstore.number_log). When events are held back, held_back_by_pid and
-- held_back_since name the backend with the oldest open transaction id in the cluster
-- (pg_stat_activity.backend_xid; any database counts) and when its transaction started:
-- commit, roll back or end it and the readers move on. They are NULL when nothing is
-- held back, when the oldest transaction is a prepared one (see pg_prepared_xacts), or
-- when the function's owner may not see that backend in pg_stat_activity (grant it
-- pg_read_all_stats).
-- Guarantees: writes nothing but log numbers; counts scan only the events not numbered yet.
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
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
declare
    v_head eventstore.log;
    v_unnumbered bigint;
    v_held_back bigint;
begin
    if eventstore.number_log() is null then end if;
    select l.* into v_head from eventstore.log l order by l.log_number desc limit 1;
    select count(*),
           count(*) filter (where e.transaction_id >= eventstore.framed_xid(
                                pg_snapshot_xmin(pg_current_snapshot()),
                                (select f.xid_offset from eventstore.log_frame f)))
      into v_unnumbered, v_held_back
      from eventstore.events e
     where (e.transaction_id, e.global_position)
           > (coalesce(v_head.transaction_id, '0'::xid8), coalesce(v_head.global_position, 0));

    return query
        with oldest as (
            select a.pid, a.xact_start
              from pg_stat_activity a
             where a.backend_xid is not null
             order by age(a.backend_xid) desc
             limit 1
        )
        select c.subscription, c.position,
               greatest(coalesce(v_head.log_number, 0) - c.position, 0) + v_unnumbered,
               v_held_back,
               case when v_held_back > 0 then o.pid end,
               case when v_held_back > 0 then o.xact_start end,
               c.updated_at
          from eventstore.checkpoints c
          left join oldest o on true
         order by c.subscription;
end;
$$;

comment on function eventstore.subscription_lag() is
    'Per checkpoint: events behind the head, events held back by an open older transaction, and that backend (pid, xact_start).';
