-- 0012: tracking records for the persistence module of Python's eventsourcing library
-- (pgeventstore.eventsourcing).
--
-- A process application of that library records, atomically with the events it appends,
-- how far it has processed each upstream application's notification log: the newest
-- notification id it processed. Those ids are log numbers of another log (often another
-- database), so they cannot be checkpoints, which name events of this store's log.
-- One row per (tracker, upstream): tracking only ever moves forward
-- (eventstore.record_tracking), so the newest id is all a tracker needs to know.
create table eventstore.tracking (
    -- The application that processed the notifications (the tracking recorder's name).
    tracker text collate "C" not null,
    -- The application whose notification log it follows.
    upstream text collate "C" not null,
    notification_id bigint not null,
    recorded_at timestamptz not null default now(),
    constraint tracking_pkey primary key (tracker, upstream)
);

comment on table eventstore.tracking is
    'The newest notification id each tracker processed of each upstream log (eventstore.record_tracking).';

insert into eventstore.schema_migrations (migration_id) values ('0012.eventsourcing');
