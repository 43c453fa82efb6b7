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

insert into eventstore.schema_migrations (migration_id) values ('0014.lighter-appends');
