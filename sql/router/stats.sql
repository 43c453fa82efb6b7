-- eventstore.stats() on the router of a sharded store: the unsharded function's rows,
-- summed over every shard.
--
-- Guarantees: the same rows and order as the unsharded eventstore.stats (total, then
-- categories and event types, most events first, then by name), each count the sum of
-- the shards' (a stream lives on one shard, so the streams per type add up exactly too);
-- disk_bytes is the sum of the shards' disk sizes. Each shard counts in its own snapshot:
-- the totals are exact for a store that is not being written, and otherwise each shard's
-- part is as of its own moment.
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
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
declare
    v_state text;
    v_message text;
    v_detail text;
    v_hint text;
begin
    return query
        select s.kind, s.name, sum(s.streams)::bigint, sum(s.events)::bigint, sum(s.snapshots)::bigint,
               sum(s.payload_bytes)::bigint, sum(s.disk_bytes)::bigint
          from eventstore_router.stats() s
         group by s.kind, s.name
         order by case s.kind when 'total' then 0 when 'category' then 1 else 2 end,
                  sum(s.events) desc, s.name collate "C";
exception when others then
    get stacked diagnostics v_state = returned_sqlstate, v_message = message_text,
                            v_detail = pg_exception_detail, v_hint = pg_exception_hint;
    perform eventstore_router.reraise(v_state, v_message, v_detail, v_hint);
end;
$$;
