-- eventstore.read_shards(after, max_count, event_types, category, after_event_ids): the
-- global logs of all shards as one, read through a cursor of per-shard log numbers.
--
-- Each shard is a complete store with its own dense global log (eventstore.read_all).
-- after: the cursor, one log number per shard (after[1] for shard 0, ...; a missing or
-- NULL entry is 0, the start of that shard's log). after_event_ids (optional): the id of
-- the event at each of those numbers, checked by each shard as read_all checks one (ES419
-- when that shard's log no longer has it there).
-- Result: (shard, then the columns of eventstore.log_event) in the merge order
-- (log_number, shard): the events of each shard in its log order, the shards interleaved
-- by log number. The cursor after a page is, for each shard, the log number (and event id)
-- of its last row in the page, or its previous entry when the page has none of its rows.
-- Guarantees: reading page after page with that cursor returns every event of every shard
-- exactly once and in each shard's log order (each shard's log is gap-safe); there is no
-- order between events of different shards (appends to different shards are unrelated
-- transactions). Filters and errors are read_all's (ES400 for a max_count outside
-- 1..100000, ES419), plus ES400 for a cursor longer than the number of shards. Cost: one
-- read_all of up to max_count events on every shard per page.
create or replace function eventstore_router.read_all(
    on_partition integer,
    after bigint,
    max_count integer,
    event_types text[],
    category text,
    after_event_id uuid
)
returns setof eventstore.log_event
language plproxy
as $$
    cluster 'eventstore';
    run on on_partition;
    select log_number, stream_id, version, global_position, event_id, event_type, data, metadata, recorded_at
      from eventstore.read_all(after, max_count, event_types, category, after_event_id);
$$;

comment on function eventstore_router.read_all(integer, bigint, integer, text[], text, uuid) is
    'eventstore.read_all on the shard holding the partition on_partition.';

create or replace function eventstore.read_shards(
    after bigint[],
    max_count integer default 1000,
    event_types text[] default null,
    category text default null,
    after_event_ids uuid[] default null
)
returns table (
    shard integer,
    log_number bigint,
    stream_id text,
    version bigint,
    global_position bigint,
    event_id uuid,
    event_type text,
    data jsonb,
    metadata jsonb,
    recorded_at timestamptz
)
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
declare
    v_shards integer;
    v_state text;
    v_message text;
    v_detail text;
    v_hint text;
begin
    select count(*) into v_shards from eventstore_router.shards;
    if coalesce(cardinality(read_shards.after), 0) > v_shards
       or coalesce(cardinality(read_shards.after_event_ids), 0) > v_shards then
        raise exception using
            errcode = 'ES400',
            message = format('the cursor names %s shards; the store has %s',
                             greatest(cardinality(read_shards.after), cardinality(read_shards.after_event_ids)),
                             v_shards),
            hint = 'Pass one log number per shard, shard 0 first, as the previous page left them.';
    end if;
    return query
        select r.shard, l.log_number, l.stream_id, l.version, l.global_position, l.event_id, l.event_type,
               l.data, l.metadata, l.recorded_at
          from (select p.shard, min(p.partition) as on_partition
                  from eventstore_router.partitions p
                 group by p.shard) r
          cross join lateral eventstore_router.read_all(
                r.on_partition, coalesce(read_shards.after[r.shard + 1], 0), read_shards.max_count,
                read_shards.event_types, read_shards.category, read_shards.after_event_ids[r.shard + 1]) l
         order by l.log_number, r.shard
         limit read_shards.max_count;
exception when others then
    get stacked diagnostics v_state = returned_sqlstate, v_message = message_text,
                            v_detail = pg_exception_detail, v_hint = pg_exception_hint;
    perform eventstore_router.reraise(v_state, v_message, v_detail, v_hint);
end;
$$;

comment on function eventstore.read_shards(bigint[], integer, text[], text, uuid[]) is
    'The global logs of all shards as one, merged by (log_number, shard), after a cursor of per-shard log numbers.';
