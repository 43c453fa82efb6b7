-- eventstore.read_all(after, max_count, event_types, category, after_event_id): the
-- global log.
--
-- Returns, in log number order, up to max_count events whose log number is above the
-- cursor `after` (the log_number of the last event the caller was given; 0 for the start;
-- any integer is a valid bound, one above the newest number simply returns nothing yet).
-- It first numbers what has become readable (eventstore.number_log), so on the primary
-- the result reaches every event whose transaction, and every older one, has ended.
-- Guarantees:
-- * Log numbers are dense (1, 2, 3, ...), assigned once, in the gap-safe order: no event
--   is ever numbered below one already numbered, so a reader continuing from the last
--   number it got never skips a committed event, never gets one twice and never gets
--   one of a rolled-back transaction, on the primary, on a hot standby (which reads the
--   numbers the primary assigned, without writing) and on a logical subscriber (the
--   publisher's numbers; nothing while the subscription still copies the store's tables,
--   eventstore.log_is_copying). Within a stream, log order is version order.
-- * event_types and category (optional) filter; the cursor stays a number of the one
--   log, so a filtered reader may continue from any event it was given.
-- * after_event_id (optional) is the event_id of the event numbered `after`: ES419 when
--   the log no longer has that event there (eventstore.check_log_cursor).
-- * ES400 for a NULL cursor, a max_count outside 1..100000 or an invalid category.
create or replace function eventstore.read_all(
    after bigint default 0,
    max_count integer default 1000,
    event_types text[] default null,
    category text default null,
    after_event_id uuid default null
)
returns setof eventstore.log_event
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
begin
    if read_all.category is not null then
        return query
            select * from eventstore.read_category(read_all.category, read_all.after, read_all.max_count,
                                                   null, null, read_all.event_types, read_all.after_event_id);
        return;
    end if;
    perform eventstore.check_max_count(read_all.max_count);
    perform eventstore.check_log_cursor(read_all.after, read_all.after_event_id);
    if eventstore.number_log() is null then end if;
    if eventstore.log_is_copying() then
        return;
    end if;

    return query
        select l.log_number, e.stream_id, e.version, e.global_position, e.event_id, e.event_type,
               e.data, e.metadata, e.recorded_at
          from eventstore.log l
          -- One index lookup of the event per number, in log order. A join on the pair
          -- would be estimated as if the two columns were independent (a position has
          -- one transaction id), so far below its real size that a hash join of the
          -- whole table looked cheaper; OFFSET 0 keeps the lookup a subquery of its own.
          cross join lateral (
                select x.stream_id, x.version, x.global_position, x.event_id, x.event_type,
                       x.data, x.metadata, x.recorded_at
                  from eventstore.events x
                 where x.transaction_id = l.transaction_id
                   and x.global_position = l.global_position
                offset 0) e
         where l.log_number > read_all.after
           and (read_all.event_types is null or e.event_type = any (read_all.event_types))
         order by l.log_number
         limit read_all.max_count;
end;
$$;

comment on function eventstore.read_all(bigint, integer, text[], text, uuid) is
    'Up to max_count events of the global log after the log number `after`, in log number order.';
