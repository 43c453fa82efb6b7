-- eventstore.number_log(max_count): give the readable events that have no log number yet
-- their numbers, and return how many it numbered.
--
-- The global log is eventstore.log: log numbers 1, 2, 3, ... with no gap, each naming one
-- event. An event is readable once every transaction that could still commit an event
-- sorting before it has ended: its recorded transaction_id (eventstore.log_key) is below
-- the xmin of the snapshot, in the log frame (eventstore.check_log_frame). This function
-- numbers, in the order (transaction_id, global_position), up to max_count readable events
-- that follow the last numbered one. Every event sorting before a numbered one is
-- numbered too, so the numbered events are always a prefix of that order and numbers are
-- never reused or reordered.
-- Guarantees:
-- * Numbering is serialized by a transaction-scoped advisory lock, taken only when there
--   is something to number. A caller that finds it taken waits for it up to 200 ms (the
--   holder is usually another reader's short numbering; its numbers are then visible),
--   then numbers what is left; after a longer wait it numbers nothing and returns 0. The
--   numbers commit with the caller's transaction: call it in a short transaction (the
--   readers of the log call it first), since a transaction that numbered holds numbering
--   up for everyone until it ends.
-- * Numbers nothing, and returns 0, on a hot standby, in a read-only transaction, under
--   REPEATABLE READ or SERIALIZABLE (whose snapshot may predate the last numbers), and
--   while the database receives the log by logical replication: readers there read the
--   numbers the primary or publisher assigned.
-- * Every stream whose first event (version 0) it numbers is recorded in
--   eventstore.stream_starts by the same statement (eventstore.list_streams_before).
-- * Writers never wait for it, and it never waits for them.
-- * ES400 for a max_count outside 1..100000.
create or replace function eventstore.number_log(max_count integer default 10000)
returns bigint
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
-- Its statements read the primary key's range after the newest number whatever the values,
-- so they are planned once per session: with a plan for each call's values (what the
-- default chose here), planning cost more than numbering a few events.
set plan_cache_mode = force_generic_plan
as $$
declare
    v_offset text;
    v_head eventstore.log;
    v_readable boolean;
    v_lock_timeout text;
    v_numbered bigint;
begin
    perform eventstore.check_max_count(number_log.max_count);
    if pg_is_in_recovery()
       or current_setting('transaction_read_only') = 'on'
       or current_setting('transaction_isolation') <> 'read committed' then
        return 0;
    end if;
    v_offset := current_setting('eventstore.log_offset', true);
    if coalesce(v_offset, '') = '' then
        -- check_log_frame refuses a subscriber (25006): ask first.
        if eventstore.log_is_replicated() then
            return 0;
        end if;
        v_offset := eventstore.check_log_frame()::text;
    end if;
    -- Only lock when an event is readable and not numbered: the first event after the
    -- newest numbered one, in the gap-safe order, is then below the readable bound (one
    -- statement, so the events and the bound are of one snapshot). Asked as the first row
    -- in the index's order, not as NOT EXISTS, so that the plan is the index's range scan
    -- whatever the estimates: for NOT EXISTS, a generic plan (PL/pgSQL reuses one) that
    -- expects many matching rows, as on a table without statistics, may scan the table.
    select l.* into v_head from eventstore.log l order by l.log_number desc limit 1;
    select e.transaction_id
           < eventstore.framed_xid(pg_snapshot_xmin(pg_current_snapshot()), v_offset::bigint)
      into v_readable
      from eventstore.events e
     where (e.transaction_id, e.global_position)
           > (coalesce(v_head.transaction_id, '0'::xid8), coalesce(v_head.global_position, 0))
     order by e.transaction_id, e.global_position
     limit 1;
    if v_readable is not true then
        return 0;
    end if;
    -- Whether this database is a logical subscriber is a catalog query, so it is asked
    -- only when there is something to number (a subscription may have been enabled since
    -- this session's first call).
    if eventstore.log_is_replicated() then
        return 0;
    end if;
    if not pg_try_advisory_xact_lock(123589385977858) then
        v_lock_timeout := current_setting('lock_timeout');
        perform set_config('lock_timeout', '200ms', true);
        begin
            perform pg_advisory_xact_lock(123589385977858);
        exception when lock_not_available then
            perform set_config('lock_timeout', v_lock_timeout, true);
            return 0;
        end;
        perform set_config('lock_timeout', v_lock_timeout, true);
    end if;

    -- Read again under the lock: the numbers of whoever held it are committed and visible.
    select l.* into v_head from eventstore.log l order by l.log_number desc limit 1;
    -- The streams whose first event gets its number here are recorded in the same
    -- statement (eventstore.list_streams_before reads them).
    with numbered as materialized (
        select e.transaction_id, e.global_position, e.event_id, e.stream_id, e.version, e.recorded_at
          from eventstore.events e
         where (e.transaction_id, e.global_position)
               > (coalesce(v_head.transaction_id, '0'::xid8), coalesce(v_head.global_position, 0))
           and e.transaction_id
               < eventstore.framed_xid(pg_snapshot_xmin(pg_current_snapshot()), v_offset::bigint)
         order by e.transaction_id, e.global_position
         limit number_log.max_count
    ), started as (
        insert into eventstore.stream_starts (stream_id, created_at)
        select r.stream_id, r.recorded_at
          from numbered r
         where r.version = 0
        -- once per stream, even for a log rebuilt after its numbers diverged
        on conflict on constraint stream_starts_pkey do nothing
    )
    insert into eventstore.log (log_number, global_position, transaction_id, event_id, category)
    select coalesce(v_head.log_number, 0) + row_number() over (order by r.transaction_id, r.global_position),
           r.global_position, r.transaction_id, r.event_id, eventstore.category(r.stream_id)
      from numbered r;
    get diagnostics v_numbered = row_count;
    return v_numbered;
end;
$$;

comment on function eventstore.number_log(integer) is
    'Numbers up to max_count readable events in the gap-safe order, after the last numbered one; returns how many.';
