-- 0014: appends do less per call. Each cost below was paid by every append, once per
-- INSERT statement, whether or not the event needed it (docs/performance.md, round 8):
--
-- * The BEFORE INSERT trigger that sealed personal data. Its WHEN clause is read from the
--   catalog and prepared again for every INSERT statement, even when no event carries
--   "$subject". The append functions now seal in their own inserts (eventstore.stored_data,
--   one jsonb key test per event), which are the only way events are written.
-- * The partial index on metadata ->> '$subject', prepared for every INSERT statement too.
--   eventstore.forget_subject finds a subject's streams in eventstore.subject_streams,
--   written by the sealing itself, so plain events pay nothing for it.
-- * The CHECK (version >= 0) on events, likewise prepared for every INSERT statement. The
--   append and lifecycle functions compute every version from 0 upwards, and no other
--   role may insert (sql/grants.sql), so it could never fail.
drop trigger if exists events_seal_personal_data on eventstore.events;
drop function if exists eventstore.seal_personal_data();

-- The streams in which an append sealed a data subject's personal fields: what
-- eventstore.forget_subject reads to find the snapshots to drop and the events to count.
create table eventstore.subject_streams (
    subject text collate "C" not null,
    stream_id text collate "C" not null,
    constraint subject_streams_pkey primary key (subject, stream_id)
);

comment on table eventstore.subject_streams is
    'The streams that hold a data subject''s sealed events (written by eventstore.seal_personal_data).';

insert into eventstore.subject_streams (subject, stream_id)
select distinct e.metadata operator(pg_catalog.->>) '$subject', e.stream_id
  from eventstore.events e
 where e.metadata operator(pg_catalog.?) '$subject'
   and e.metadata operator(pg_catalog.->>) '$subject' is not null;

drop index if exists eventstore.events_subject_idx;

alter table eventstore.events drop constraint if exists events_version_check;

-- * The partial index of first events (events_stream_created_idx, version = 0), which
--   listed streams newest first: its predicate was prepared for every INSERT statement and
--   every new stream wrote an entry into it. eventstore.number_log now records each stream
--   whose first event it numbers in eventstore.stream_starts, one batch per numbering, and
--   eventstore.list_streams_before merges that table with the few first events not
--   numbered yet, so that a stream is listed as soon as before. An append now writes the
--   index entries of the hand-made table: (stream_id, version), event_id and the key.
create table eventstore.stream_starts (
    stream_id text collate "C" not null,
    created_at timestamptz not null,
    constraint stream_starts_pkey primary key (stream_id)
);

comment on table eventstore.stream_starts is
    'Every stream whose first event is numbered, with that event''s recorded_at (written by eventstore.number_log).';

create index stream_starts_created_idx on eventstore.stream_starts (created_at, stream_id);

insert into eventstore.stream_starts (stream_id, created_at)
select e.stream_id, e.recorded_at
  from eventstore.log l
  join eventstore.events e on e.transaction_id operator(pg_catalog.=) l.transaction_id
                          and e.global_position operator(pg_catalog.=) l.global_position
 where e.version operator(pg_catalog.=) 0;

drop index if exists eventstore.events_stream_created_idx;

insert into eventstore.schema_migrations (migration_id) values ('0014.lighter-appends');
