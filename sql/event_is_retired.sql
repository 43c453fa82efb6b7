-- eventstore.event_is_retired(tombstoned, version_floor, max_age, max_count, version,
-- recorded_at, last_version): whether the stream lifecycle made an event unreadable.
--
-- Guarantees: the rule the log readers (read_all, read_category) apply to every event of
-- a stream with a row in eventstore.stream_metadata, given that row's columns, the event's
-- version and recorded_at, and the stream's last version: true for every event of a
-- tombstoned stream, below version_floor (truncate_before, deletion, scavenging), recorded
-- before now() - max_age, or not among the newest max_count versions. last_version is
-- evaluated only when max_count is set. eventstore.stream_read_bounds gives the stream
-- readers the same rule as bounds. Inlined into its callers: a SQL-standard body bound
-- at creation, no SET clause, SECURITY INVOKER (grants.sql keeps it so).
create or replace function eventstore.event_is_retired(
    tombstoned boolean,
    version_floor bigint,
    max_age interval,
    max_count bigint,
    version bigint,
    recorded_at timestamptz,
    last_version bigint
)
returns boolean
language sql
stable
parallel safe
return $1
       or $5 operator(pg_catalog.<) $2
       or $6 operator(pg_catalog.<) (pg_catalog.now() operator(pg_catalog.-) $3)
       or case when $4 is not null then $5 operator(pg_catalog.<=) ($7 operator(pg_catalog.-) $4) end;

comment on function eventstore.event_is_retired(boolean, bigint, interval, bigint, bigint, timestamptz, bigint) is
    'Whether a stream''s metadata, deletion, tombstone or scavenging made the event unreadable (the log readers'' rule).';
