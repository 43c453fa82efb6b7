-- eventstore.read_all(after, max_count, event_types, category, after_event_id): the
-- global log.
--
-- Returns, in log number order, up to max_count events whose log number is above the
-- cursor `after` (the log_number of the last event the caller was given; 0 for the start;
-- any integer is a valid bound, one above the newest number simply returns nothing yet).
-- It first numbers what has become readable (eventstore.number_log), so on the primary
-- the result reaches every event whose transaction, and every older one, has ended.
-- Guarantees:
-- * Log numbers are dense (1, 2, 3, ...), assigned once, in the gap-safe order: no event
--   is ever numbered below one already numbered, so a reader continuing from the last
--   number it got never skips a committed event, never gets one twice and never gets
--   one of a rolled-back transaction, on the primary, on a hot standby (which reads the
--   numbers the primary assigned, without writing) and on a logical subscriber (the
--   publisher's numbers; nothing while the subscription still copies the store's tables,
--   eventstore.log_is_copying). Within a stream, log order is version order.
-- * Events that the stream lifecycle made unreadable (eventstore.event_is_retired: stream
--   metadata, deletions, tombstones) are skipped, whether eventstore.scavenge removed them
--   yet or not; their numbers stay valid cursors.
-- * event_types and category (optional) filter; the cursor stays a number of the one
--   log, so a filtered reader may continue from any event it was given.
-- * after_event_id (optional) is the event_id of the event numbered `after`: ES419 when
--   the log no longer has that event there (eventstore.check_log_cursor).
-- * ES400 for a NULL cursor, a max_count outside 1..100000 or an invalid category.
create or replace function eventstore.read_all(
    after bigint default 0,
    max_count integer default 1000,
    event_types text[] default null,
    category text default null,
    after_event_id uuid default null
)
returns setof eventstore.log_event
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
-- Its result stays in memory up to 32MB, not a temporary file (docs/operations.md#memory).
set work_mem = '32MB'
set plan_cache_mode = auto
as $$
declare
    v_from eventstore.log;
    v_to eventstore.log;
    v_head eventstore.log;
    v_base bigint;
begin
    if read_all.category is not null then
        return query
            select * from eventstore.read_category(read_all.category, read_all.after, read_all.max_count,
                                                   null, null, read_all.event_types, read_all.after_event_id);
        return;
    end if;
    perform eventstore.check_max_count(read_all.max_count);
    perform eventstore.check_log_cursor(read_all.after, read_all.after_event_id);
    if eventstore.number_log() is null then end if;
    if eventstore.log_is_copying() then
        return;
    end if;

    -- Log numbers follow the order (transaction_id, global_position) of the events'
    -- primary key, and the numbered events are a prefix of that order: the events after
    -- the cursor's place and up to the newest number's place are the numbered ones after
    -- the cursor, one range of the primary key.
    select l.* into v_head from eventstore.log l order by l.log_number desc limit 1;
    if v_head.log_number is null or v_head.log_number <= read_all.after then
        return;
    end if;
    v_base := greatest(read_all.after, 0);
    select l.* into v_from from eventstore.log l where l.log_number = v_base;

    -- Without filters, and while no stream has lifecycle rules, the page is the first
    -- max_count events of the range, and their numbers follow the cursor's one by one
    -- unless an event of the range is gone (scavenged: its number stays). The range up to
    -- the page's last number (v_to) has one event per number exactly when it holds
    -- v_to - v_base events; that count and the page are read in one statement, so of one
    -- snapshot. Then each event's number is its rank after the cursor, and the page needs
    -- no lookup in the log; otherwise (no row) the page is read through the log below.
    if read_all.event_types is null then
        if v_head.log_number - v_base <= read_all.max_count then
            v_to := v_head;
        else
            select l.* into v_to from eventstore.log l where l.log_number = v_base + read_all.max_count;
        end if;
        -- The plan is the primary key's range in order whatever the arguments, so it is
        -- planned once per session, not for each call's values (the function's SET clause
        -- restores plan_cache_mode when it returns).
        perform set_config('plan_cache_mode', 'force_generic_plan', true);
        -- A ROWS frame: the default RANGE frame makes the window look for each row's peers,
        -- which a unique order never has.
        return query
            select v_base + row_number() over (order by e.transaction_id, e.global_position rows unbounded preceding),
                   e.stream_id, e.version, e.global_position, e.event_id, e.event_type,
                   eventstore.readable_data(e.data, e.metadata), e.metadata, e.recorded_at
              from eventstore.events e
             -- Bounded by the newest number, not v_to: the planner then reads the primary
             -- key in order for the LIMIT instead of sorting a bitmap scan's rows.
             where (e.transaction_id, e.global_position)
                   > (coalesce(v_from.transaction_id, '0'::xid8), coalesce(v_from.global_position, 0))
               and (e.transaction_id, e.global_position) <= (v_head.transaction_id, v_head.global_position)
               and not exists (select from eventstore.stream_metadata r
                                where r.tombstoned or r.version_floor > 0
                                   or r.max_count is not null or r.max_age is not null)
               and (select count(*) from eventstore.events c
                     where (c.transaction_id, c.global_position)
                           > (coalesce(v_from.transaction_id, '0'::xid8), coalesce(v_from.global_position, 0))
                       and (c.transaction_id, c.global_position) <= (v_to.transaction_id, v_to.global_position))
                   = v_to.log_number - v_base
             order by e.transaction_id, e.global_position
             limit read_all.max_count;
        if found then
            return;
        end if;
        perform set_config('plan_cache_mode', 'auto', true);
    end if;

    -- Each event gets its number from the log's index on global_position (a join the
    -- planner estimates right, unlike one on the pair, whose columns it takes for
    -- independent).
    return query
        select l.log_number, e.stream_id, e.version, e.global_position, e.event_id, e.event_type,
               eventstore.readable_data(e.data, e.metadata), e.metadata, e.recorded_at
          from eventstore.events e
          join eventstore.log l on l.global_position = e.global_position
         where (e.transaction_id, e.global_position)
               > (coalesce(v_from.transaction_id, '0'::xid8), coalesce(v_from.global_position, 0))
           and (e.transaction_id, e.global_position) <= (v_head.transaction_id, v_head.global_position)
           and (read_all.event_types is null or e.event_type = any (read_all.event_types))
           -- Events the stream lifecycle made unreadable are skipped, before and after
           -- eventstore.scavenge removes them (their numbers stay valid cursors). Asked
           -- once per call (an InitPlan on stream_metadata_rules_idx) whether any stream
           -- has such rules; only then per event.
           and (not exists (select from eventstore.stream_metadata r
                             where r.tombstoned or r.version_floor > 0
                                or r.max_count is not null or r.max_age is not null)
                or not exists (
                     select from eventstore.stream_metadata m
                      where m.stream_id = e.stream_id
                        and eventstore.event_is_retired(
                              m.tombstoned, m.version_floor, m.max_age, m.max_count, e.version, e.recorded_at,
                              (select n.version from eventstore.events n
                                where n.stream_id = e.stream_id order by n.version desc limit 1))))
         order by e.transaction_id, e.global_position
         limit read_all.max_count;
end;
$$;

comment on function eventstore.read_all(bigint, integer, text[], text, uuid) is
    'Up to max_count events of the global log after the log number `after`, in log number order.';
