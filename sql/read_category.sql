-- eventstore.read_category(category, after, max_count, consumer_group_member,
-- consumer_group_size, event_types, after_event_id): the global log restricted to one
-- category.
--
-- Returns, in log number order, up to max_count events of streams in the category
-- (eventstore.category) whose log number is above the cursor `after` (the log_number of
-- the last event the caller was given, 0 for the start; any integer is a valid bound).
-- It numbers what has become readable first (eventstore.number_log), as read_all does, and
-- has read_all's guarantees: a reader continuing from the last number it got never skips
-- an event of the category and never gets one twice (nothing is returned while a logical
-- subscription still copies the store's tables, eventstore.log_is_copying).
-- With a consumer group (both consumer_group_member k and consumer_group_size n given),
-- only streams with eventstore.consumer_group_member(stream_id, n) = k are returned: the
-- n members together get every event once, each stream in order to one member.
-- event_types (optional) keeps only events of those types. Events that the stream
-- lifecycle made unreadable are skipped as in read_all (eventstore.event_is_retired).
-- Guarantees: ES400 for a NULL, empty or '-'-containing category, a NULL cursor, a
-- max_count outside 1..100000, a member outside 0..n-1 or only one of member and size;
-- ES419 as eventstore.check_log_cursor says.
create or replace function eventstore.read_category(
    category text,
    after bigint default 0,
    max_count integer default 1000,
    consumer_group_member integer default null,
    consumer_group_size integer default null,
    event_types text[] default null,
    after_event_id uuid default null
)
returns setof eventstore.log_event
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
-- Its result stays in memory up to 32MB, not a temporary file (docs/operations.md#memory).
set work_mem = '32MB'
as $$
begin
    if read_category.category is null or read_category.category = ''
       or strpos(read_category.category, '-') > 0 then
        raise exception using
            errcode = 'ES400',
            message = format('invalid category %s', coalesce(quote_literal(read_category.category), 'NULL')),
            hint = 'A category is the part of a stream id before its first ''-'', e.g. order for order-42.';
    end if;
    perform eventstore.check_max_count(read_category.max_count);
    if (read_category.consumer_group_member is null) <> (read_category.consumer_group_size is null)
       or read_category.consumer_group_size < 1 or read_category.consumer_group_member < 0
       or read_category.consumer_group_member >= read_category.consumer_group_size then
        raise exception using
            errcode = 'ES400',
            message = format('consumer group member %s of size %s is invalid',
                             coalesce(read_category.consumer_group_member::text, 'NULL'),
                             coalesce(read_category.consumer_group_size::text, 'NULL')),
            hint = 'Give both or neither; the member is 0-based: 0 <= member < size.';
    end if;
    perform eventstore.check_log_cursor(read_category.after, read_category.after_event_id);
    if eventstore.number_log() is null then end if;
    if eventstore.log_is_copying() then
        return;
    end if;

    -- The log keeps each number's category: the category's numbered events after the
    -- cursor are one range of log_category_idx (category, log_number).
    return query
        select l.log_number, e.stream_id, e.version, e.global_position, e.event_id, e.event_type,
               eventstore.readable_data(e.data, e.metadata), e.metadata, e.recorded_at
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
         where l.category = read_category.category
           and l.log_number > read_category.after
           and (read_category.consumer_group_size is null
                or eventstore.consumer_group_member(e.stream_id, read_category.consumer_group_size)
                   = read_category.consumer_group_member)
           and (read_category.event_types is null or e.event_type = any (read_category.event_types))
           -- Events the stream lifecycle made unreadable are skipped, before and after
           -- eventstore.scavenge removes them (their numbers stay valid cursors). Asked
           -- once per call (an InitPlan on stream_metadata_rules_idx) whether any stream
           -- has such rules; only then per event.
           and (not exists (select from eventstore.stream_metadata r
                             where r.tombstoned or r.version_floor > 0
                                or r.max_count is not null or r.max_age is not null)
                or not exists (
                     select from eventstore.stream_metadata m
                      where m.stream_id = e.stream_id
                        and eventstore.event_is_retired(
                              m.tombstoned, m.version_floor, m.max_age, m.max_count, e.version, e.recorded_at,
                              (select n.version from eventstore.events n
                                where n.stream_id = e.stream_id order by n.version desc limit 1))))
         order by l.log_number
         limit read_category.max_count;
end;
$$;

comment on function eventstore.read_category(text, bigint, integer, integer, integer, text[], uuid) is
    'Up to max_count events of a category after the log number `after`, in log number order; optionally one consumer group member''s share.';
