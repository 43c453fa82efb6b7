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
-- Events of transactions still open are numbered later, by eventstore.number_log.
insert into eventstore.log (log_number, global_position, transaction_id, event_id)
select pg_catalog.row_number() over (order by e.transaction_id, e.global_position),
       e.global_position, e.transaction_id, e.event_id
  from eventstore.events e
 where e.transaction_id < pg_catalog.pg_snapshot_xmin(pg_catalog.pg_current_snapshot());

-- Checkpoints name the last event processed by its log number and its id. A checkpoint
-- saved before this migration named an event a reader was given, which is numbered
-- above; one whose event is no longer stored restarts from 0 (delivered again, never
-- skipped).
alter table eventstore.checkpoints add column event_id uuid;

update eventstore.checkpoints c
   set position = coalesce((select l.log_number from eventstore.log l where l.global_position = c.position), 0),
       event_id = (select l.event_id from eventstore.log l where l.global_position = c.position)
 where c.position <> 0;

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
