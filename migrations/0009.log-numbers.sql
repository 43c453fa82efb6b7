-- 0009: log numbers: every event gets a dense, portable number in the global log.
--
-- Until now a reader's cursor was an event's global_position, and the log order was
-- (transaction_id, global_position) in the writing cluster's transaction ids. That order
-- does not survive a restore into another cluster, logical replication or a failover, and
-- a position is not a number a client can compare. From now on the log is the table
-- eventstore.log: one row per event, numbered 1, 2, 3, ... with no gap, in the gap-safe
-- order, once the event is readable (eventstore.number_log). Readers page by log number.
-- The events table and its rows do not change; global_position stays the identity that
-- orders the events one transaction writes, nothing more.
create table eventstore.log (
    log_number bigint primary key check (log_number >= 1),
    global_position bigint not null,
    -- The event's place in the gap-safe order, kept here so that the next number follows
    -- the last one even when that event is no longer stored.
    transaction_id xid8 not null,
    -- A cursor or checkpoint remembers the event its number names, so a log that
    -- diverged (a failover that lost commits) is detected instead of skipped.
    event_id uuid not null,
    constraint log_global_position_key unique (global_position)
);

comment on table eventstore.log is
    'The global log: every readable event''s dense log number, assigned in the gap-safe order by eventstore.number_log.';

-- The frame of the recorded transaction ids. Appends record their transaction id plus
-- xid_offset (eventstore.log_key), and an event is readable once that value is below the
-- reading snapshot's xmin plus xid_offset. In the cluster that wrote the events the offset
-- is 0. A cluster that received the events from elsewhere (pg_dump/restore, logical
-- replication) assigns smaller ids than the stored ones: eventstore.check_log_frame then
-- raises the offset once, so the new events sort after the stored ones and the stored
-- ones are readable at once.
create table eventstore.log_frame (
    singleton boolean primary key default true check (singleton),
    xid_offset bigint not null default 0 check (xid_offset >= 0),
    adopted_at timestamptz
);

insert into eventstore.log_frame default values;

-- The events a reader could read before this migration, numbered in that same order.
-- Events of transactions still open are numbered later, by eventstore.number_log. A store
-- restored from another cluster without pg_resetwal recorded ids at or above every id this
-- cluster has assigned (the snapshot's xmax); its readers read none of them, and every
-- append was refused (ES503), so no transaction still open can commit an event sorting
-- before them: all of them are numbered, so that the checkpoints below keep their place.
-- eventstore.check_log_frame adopts their frame at the first append or numbering.
insert into eventstore.log (log_number, global_position, transaction_id, event_id)
select pg_catalog.row_number() over (order by e.transaction_id, e.global_position),
       e.global_position, e.transaction_id, e.event_id
  from eventstore.events e,
       (select pg_catalog.pg_current_snapshot() as snapshot,
               (select pg_catalog.max(n.transaction_id) from eventstore.events n) as newest) s
 where e.transaction_id < pg_catalog.pg_snapshot_xmin(s.snapshot)
    or s.newest >= pg_catalog.pg_snapshot_xmax(s.snapshot);

-- Checkpoints name the last event processed by its log number and its id. A checkpoint
-- saved before this migration names, by its global position, an event a reader was given,
-- which is numbered above, and resumes after that event's number: the same events follow
-- it in the log as in the order (transaction_id, global_position) it was saved in.
-- A checkpoint naming an event that has no number cannot keep its place, and restarting
-- it from 0 would apply every event again to what it maintains, so the migration refuses,
-- and changes nothing, with ES404, naming the checkpoint:
-- * the event is stored but not readable yet (a transaction older than it is still open,
--   so its number is not known): run the upgrade again once that transaction has ended;
-- * no event has that position (events removed through eventstore.permit_event_change;
--   the release's readers refused such a checkpoint with ES404 too): move it first, to 0
--   or to an event's position, with the release's save_checkpoint and its expected value.
alter table eventstore.checkpoints add column event_id uuid;

do $$
declare
    v_unconvertible record;
begin
    select c.subscription, c.position, e.event_id is not null as stored
      into v_unconvertible
      from eventstore.checkpoints c
      left join eventstore.events e on e.global_position = c.position
     where c.position <> 0
       and not exists (select from eventstore.log l where l.global_position = c.position)
     order by c.subscription
     limit 1;
    if not found then
        return;
    end if;
    if v_unconvertible.stored then
        raise exception using
            errcode = 'ES404',
            message = pg_catalog.format(
                'checkpoint %L names the event at global position %s, which is not readable yet: '
                'its log number is not known', v_unconvertible.subscription, v_unconvertible.position),
            hint = 'A transaction older than that event is still open: upgrade again once it has ended.';
    end if;
    raise exception using
        errcode = 'ES404',
        message = pg_catalog.format('checkpoint %L names global position %s, which no event has',
                                    v_unconvertible.subscription, v_unconvertible.position),
        hint = pg_catalog.format('Move it first, e.g. select eventstore.save_checkpoint(%L, 0, expected => %s), '
                                 'then upgrade again.', v_unconvertible.subscription, v_unconvertible.position);
end;
$$;

update eventstore.checkpoints c
   set position = l.log_number, event_id = l.event_id
  from eventstore.log l
 where l.global_position = c.position
   and c.position <> 0;

-- A checkpoint above 0 names its event (eventstore.check_log_cursor detects a diverged log
-- by it). A call of the release's save_checkpoint that waited for this upgrade's lock and
-- goes on after it stores a global position without touching event_id: this refuses it
-- when it saves a first checkpoint or moves one from 0; moved from another checkpoint, it
-- keeps that one's event id, which its new number does not name (ES419 when loaded).
alter table eventstore.checkpoints
    add constraint checkpoints_event_id_check check ((position = 0) = (event_id is null));

-- The events of the global log readers: eventstore.recorded_event with the log number first.
create type eventstore.log_event as (
    log_number bigint,
    stream_id text,
    version bigint,
    global_position bigint,
    event_id uuid,
    event_type text,
    data jsonb,
    metadata jsonb,
    recorded_at timestamptz
);

comment on type eventstore.log_event is
    'An event of the global log: its log number, then the columns of eventstore.recorded_event.';

-- Their results and parameters change meaning (log numbers, not positions); the function
-- files create them again in the same transaction. The cursor lookup and the ES503 check
-- have no use left.
drop function if exists eventstore.read_all(bigint, integer, text[], text);
drop function if exists eventstore.read_category(text, bigint, integer, integer, integer, text[]);
drop function if exists eventstore.is_processed(bigint, bigint);
drop function if exists eventstore.save_checkpoint(text, bigint, bigint);
drop function if exists eventstore.subscription_lag();
drop function if exists eventstore.log_cursor(bigint);
drop function if exists eventstore.check_log_order();

insert into eventstore.schema_migrations (migration_id) values ('0009.log-numbers');
