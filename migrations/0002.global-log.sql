-- 0002: the global log: a per-stream floor for recorded transaction ids, and checkpoints.
--
-- The global log is ordered by (events.transaction_id, events.global_position) and a
-- reader only reads events whose transaction_id is below the xmin of its snapshot, so no
-- transaction that can still commit sorts before what it has read. That order alone breaks
-- per-stream order when an OLDER transaction appends to a stream after a NEWER one has
-- committed there. streams.log_transaction_id fixes it: every append records
-- greatest(its own transaction id, the stream's log_transaction_id) as its events'
-- transaction_id and stores that value back. A recorded id is never below the real one, so
-- the xmin rule stays safe (an event becomes readable no earlier than its transaction ends).
alter table eventstore.streams
    add column log_transaction_id xid8 not null default '0';

-- Streams written before this migration start from their newest recorded transaction id.
update eventstore.streams s
   set log_transaction_id = e.max_transaction_id
  from (select e.stream_id, max(e.transaction_id) as max_transaction_id
          from eventstore.events e
         group by e.stream_id) e
 where e.stream_id = s.stream_id;

-- A subscription's checkpoint: the global position of the last event it has processed
-- (0: none yet). Written only through eventstore.save_checkpoint, which never moves it
-- backwards in log order unless the caller names the value it replaces.
create table eventstore.checkpoints (
    subscription text collate "C" primary key
        check (pg_catalog.length(subscription) between 1 and 255),
    position bigint not null check (position >= 0),
    updated_at timestamptz not null default now()
);

insert into eventstore.schema_migrations (migration_id) values ('0002.global-log');
