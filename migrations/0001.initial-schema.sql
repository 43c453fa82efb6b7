-- 0001: the initial schema of pgeventstore: streams, events, snapshots.
--
-- Tables, types and indexes live in migrations (one file per version); the functions
-- that guard them live in sql/ and are re-applied after every migration run.
-- Every name is schema-qualified so the result does not depend on search_path.

create schema eventstore;

comment on schema eventstore is
    'pgeventstore: an event store whose guarantees are enforced by the functions in this schema';

-- One row per applied migration, written by the migration itself, so the yoyo path and
-- the DBA script (pgeventstore sql) leave the same record of what is installed.
create table eventstore.schema_migrations (
    migration_id text collate "C" primary key,
    applied_at timestamptz not null default now()
);

-- The category rule lives here, next to the index that depends on it:
-- the part of a stream id before the first '-', or the whole id when it has none.
create function eventstore.category(p_stream_id text)
returns text
language sql
immutable
strict
parallel safe
set search_path = pg_catalog, pg_temp
return pg_catalog.split_part(p_stream_id, '-', 1);

comment on function eventstore.category(text) is
    'The category of a stream: the part of its id before the first ''-'' (the whole id when it has none).';

-- One row per stream that has events. Its row is the stream's write lock: every append
-- updates (or creates) it, so two writers to one stream serialize on that row only.
create table eventstore.streams (
    stream_id text collate "C" primary key,
    version bigint not null check (version >= 0),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

create table eventstore.events (
    global_position bigint generated always as identity primary key,
    stream_id text collate "C" not null,
    version bigint not null check (version >= 0),
    event_id uuid not null,
    event_type text collate "C" not null,
    data jsonb not null,
    metadata jsonb,
    transaction_id xid8 not null default pg_catalog.pg_current_xact_id(),
    recorded_at timestamptz not null default now(),
    constraint events_stream_version_key unique (stream_id, version),
    constraint events_event_id_key unique (event_id)
);

-- Per-category reads in log order: (category, writing transaction, position).
create index events_category_idx
    on eventstore.events (eventstore.category(stream_id), transaction_id, global_position);

-- The global log in its total order: (writing transaction, position).
create index events_transaction_position_idx
    on eventstore.events (transaction_id, global_position);

create table eventstore.snapshots (
    stream_id text collate "C" primary key,
    version bigint not null check (version >= 0),
    state jsonb not null,
    schema_version integer not null,
    recorded_at timestamptz not null default now()
);

-- The row type every event-reading function returns.
create type eventstore.recorded_event as (
    stream_id text,
    version bigint,
    global_position bigint,
    event_id uuid,
    event_type text,
    data jsonb,
    metadata jsonb,
    recorded_at timestamptz
);

insert into eventstore.schema_migrations (migration_id) values ('0001.initial-schema');
