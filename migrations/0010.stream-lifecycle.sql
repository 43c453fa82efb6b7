-- 0010: stream lifecycle: stream metadata, soft delete, tombstones and scavenging.
--
-- A stream's lifecycle lives in eventstore.stream_metadata, one row per stream that has
-- metadata, was deleted or tombstoned, or was scavenged; a stream without a row is
-- untouched by any of it, and reads and appends of such streams are what they were.
--
-- Placeholder rows. Appends read nothing but eventstore.events, so what they must
-- respect is written there too, as rows that are not events: a negative global_position
-- (the identity only gives positive ones), transaction_id '0' (so they sort before every
-- event in the gap-safe order: eventstore.number_log never numbers them and no log reader
-- returns them), data 'null', and an event_type saying what they are:
-- * '$deleted': written by eventstore.delete_stream at the version after the stream's
--   last event; while it is the stream's last row the stream reads as absent.
-- * '$tombstone': written by eventstore.tombstone_stream at the version after the last
--   event; nothing is ever appended after it.
-- * '$scavenged': left by eventstore.scavenge where it removed a stream's version 0 or its
--   last row, so that those versions stay taken: an append expecting no stream (-1) still
--   finds version 0 taken, and the next version still follows the last one.
-- The row types of the readers do not change.
create table eventstore.stream_metadata (
    stream_id text collate "C" primary key,
    -- The application's metadata object as last set, reserved keys included.
    metadata jsonb not null default '{}'::jsonb check (pg_catalog.jsonb_typeof(metadata) = 'object'),
    -- -1 until eventstore.set_stream_metadata first stores metadata, then 0, 1, 2, ...
    metadata_version bigint not null default -1 check (metadata_version >= -1),
    -- The reserved keys, as checked and typed by eventstore.set_stream_metadata.
    max_count bigint check (max_count >= 1),
    max_age interval check (max_age > interval '0'),
    truncate_before bigint check (truncate_before >= 0),
    -- The version of the newest '$deleted' row (eventstore.delete_stream).
    deleted_version bigint check (deleted_version >= 0),
    tombstoned boolean not null default false,
    -- Versions below it may have been removed by eventstore.scavenge; never readable again.
    scavenged_before bigint not null default 0 check (scavenged_before >= 0),
    -- No version below it is readable: the one version floor of the rules above that do
    -- not depend on the stream's last version (max_count) or on the clock (max_age).
    version_floor bigint not null generated always as (
        greatest(coalesce(truncate_before, 0), coalesce(deleted_version + 1, 0), scavenged_before)) stored,
    updated_at timestamptz not null default now()
);

-- The streams whose rules can hide events (a row may hold only the application's keys):
-- the log readers ask once per page whether there is any, and skip the check per event
-- when there is none.
create index stream_metadata_rules_idx on eventstore.stream_metadata (stream_id)
    where tombstoned or version_floor > 0 or max_count is not null or max_age is not null;

comment on table eventstore.stream_metadata is
    'Per stream: its metadata (reserved keys max_count, max_age, truncate_before), deletion, tombstone and what scavenging removed.';

-- One row per stream and rule of each scavenge batch that removed events: who, when,
-- which stream, how many events, which versions, and by which rule.
create table eventstore.scavenges (
    scavenge_id bigint generated always as identity primary key,
    scavenged_at timestamptz not null default now(),
    scavenged_by text not null default session_user,
    stream_id text collate "C" not null,
    rule text not null check (rule in ('tombstone', 'delete', 'truncate_before', 'max_count', 'max_age')),
    events_removed bigint not null check (events_removed >= 1),
    first_version bigint not null,
    last_version bigint not null
);

create index scavenges_scavenged_at_idx on eventstore.scavenges (scavenged_at);

comment on table eventstore.scavenges is
    'The audit record of eventstore.scavenge: one row per stream and rule of each batch that removed events.';

-- The bounds eventstore.stream_read_bounds gives the stream readers.
create type eventstore.read_bounds as (
    from_version bigint,
    recorded_after timestamptz
);

comment on type eventstore.read_bounds is
    'The readable part of a stream: versions from from_version, recorded at or after recorded_after (NULL: any time).';

-- The maintenance role may scavenge and read the audit; nothing else (sql/grants.sql).
do $$
begin
    if not exists (select from pg_catalog.pg_roles r where r.rolname = 'eventstore_maintenance') then
        begin
            create role eventstore_maintenance nologin;
        exception when duplicate_object then
            null;
        end;
    end if;
end;
$$;

comment on role eventstore_maintenance is
    'pgeventstore: may run eventstore.scavenge and read its audit (eventstore.list_scavenges), nothing else';

insert into eventstore.schema_migrations (migration_id) values ('0010.stream-lifecycle');
