-- eventstore.read_all(after_position, max_count, event_types, category): the global log.
--
-- Returns up to max_count events that sort after the cursor after_position (the
-- global_position of the last event the caller was given, 0 for the start), ordered by
-- (transaction_id, global_position), and only events whose recorded transaction_id is
-- below the xmin of the reading snapshot (pg_snapshot_xmin(pg_current_snapshot())).
-- Every transaction below that xmin has ended, and every transaction still able to commit
-- records a transaction_id at or above it, so nothing can later commit before the events
-- returned. Hence every reader sees one total order and, continuing from the last
-- position it got, never skips a committed event, never gets one twice and never gets
-- one of a rolled-back transaction. Writers take no lock for it: an event becomes
-- readable once every transaction older than its own has ended.
-- event_types and category (optional) filter; the cursor stays a position in the one
-- global order, so a filtered reader may continue from any event it was given.
-- Guarantees: ES400 for a max_count outside 1..100000 or an invalid category; ES404 for a
-- cursor that is no event's position.
create or replace function eventstore.read_all(
    after_position bigint default 0,
    max_count integer default 1000,
    event_types text[] default null,
    category text default null
)
returns setof eventstore.recorded_event
language plpgsql
stable
set search_path = pg_catalog, pg_temp
as $$
declare
    p_after alias for $1;
    p_max_count alias for $2;
    p_event_types alias for $3;
    p_category alias for $4;
    v_transaction_id xid8;
begin
    if p_category is not null then
        return query
            select * from eventstore.read_category(p_category, p_after, p_max_count, null, null, p_event_types);
        return;
    end if;
    perform eventstore.check_max_count(p_max_count);
    v_transaction_id := eventstore.log_cursor(p_after);

    return query
        select e.stream_id, e.version, e.global_position, e.event_id, e.event_type,
               e.data, e.metadata, e.recorded_at
          from eventstore.events e
         where (e.transaction_id, e.global_position) > (v_transaction_id, p_after)
           and e.transaction_id < pg_snapshot_xmin(pg_current_snapshot())
           and (p_event_types is null or e.event_type = any (p_event_types))
         order by e.transaction_id, e.global_position
         limit p_max_count;
end;
$$;

comment on function eventstore.read_all(bigint, integer, text[], text) is
    'Up to max_count committed events after the cursor, in the one global log order (transaction_id, global_position).';
