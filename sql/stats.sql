-- eventstore.stats(): how much the store holds, in total, per category and per event type.
--
-- Result rows, in this order:
-- * kind = 'total' (name NULL): every stream, event and snapshot; payload_bytes is the
--   stored size of all event data and metadata; disk_bytes is the on-disk size of the
--   events and snapshots tables with their indexes and TOAST.
-- * kind = 'category', name = the category: its streams, events, snapshots and
--   payload_bytes; most events first, then by name.
-- * kind = 'type', name = the event type: the streams holding such events, the events
--   and their payload_bytes; most events first, then by name. snapshots is NULL.
-- disk_bytes is NULL on every row but the total. Streams are those with a row at version
-- 0 (scavenging leaves one: a stream stays counted), events the stored events; the
-- placeholders of the stream lifecycle count as neither. A category whose events were all
-- removed has no row.
-- Guarantees: counts are exact and consistent with each other (one statement, one
-- snapshot of the data). Cost: one scan of every table; meant for operators, not hot paths.
create or replace function eventstore.stats()
returns table (
    kind text,
    name text,
    streams bigint,
    events bigint,
    snapshots bigint,
    payload_bytes bigint,
    disk_bytes bigint
)
language sql
stable
set search_path = pg_catalog, pg_temp
as $$
    with event_rows as (
        select eventstore.category(e.stream_id) as category,
               e.stream_id,
               e.version,
               e.event_type,
               pg_catalog.pg_column_size(e.data)::bigint
                   + coalesce(pg_catalog.pg_column_size(e.metadata), 0)::bigint as bytes
          from eventstore.events e
         -- Lifecycle placeholders are no events (migrations/0010.stream-lifecycle.sql).
         where e.global_position > 0
    ),
    stream_rows as (
        select eventstore.category(e.stream_id) as category
          from eventstore.events e
         where e.version = 0
    ),
    snapshot_counts as (
        select eventstore.category(s.stream_id) as category, count(*) as snapshots
          from eventstore.snapshots s
         group by 1
    ),
    event_counts as (
        select r.category, (select count(*) from stream_rows s where s.category = r.category) as streams,
               count(*) as events, sum(r.bytes)::bigint as payload_bytes
          from event_rows r
         group by 1
    ),
    result as (
        select 0 as rank, 'total' as kind, null::text as name,
               (select count(*) from stream_rows) as streams,
               (select count(*) from event_rows) as events,
               (select count(*) from eventstore.snapshots) as snapshots,
               (select coalesce(sum(r.bytes), 0)::bigint from event_rows r) as payload_bytes,
               pg_catalog.pg_total_relation_size('eventstore.events'::pg_catalog.regclass)
                   + pg_catalog.pg_total_relation_size('eventstore.snapshots'::pg_catalog.regclass)
                   as disk_bytes
        union all
        select 1, 'category', c.category, c.streams, c.events, coalesce(n.snapshots, 0),
               c.payload_bytes, null::bigint
          from event_counts c
          left join snapshot_counts n on n.category = c.category
        union all
        select 2, 'type', r.event_type, count(distinct r.stream_id), count(*), null::bigint,
               sum(r.bytes)::bigint, null::bigint
          from event_rows r
         group by r.event_type
    )
    select r.kind, r.name, r.streams, r.events, r.snapshots, r.payload_bytes, r.disk_bytes
      from result r
     order by r.rank, r.events desc, r.name;
$$;

comment on function eventstore.stats() is
    'Counts and sizes of the store: one total row, then one row per category and per event type (most events first).';
