-- eventstore.read_category(category, after_position, max_count, consumer_group_member,
-- consumer_group_size, event_types): the global log restricted to one category.
--
-- Returns up to max_count events of streams in the category (eventstore.category) that
-- sort after the cursor after_position (the global_position of the last event the caller
-- was given, 0 for the start), in the global log order (transaction_id, global_position),
-- and only events whose recorded transaction_id is below the xmin of the reading
-- snapshot: every transaction that could still commit an event sorting before them has
-- ended. So a reader continuing from the last position it got never skips a committed
-- event, never gets one twice and never gets one of a rolled-back transaction, while
-- writers take no lock for it.
-- With a consumer group (both consumer_group_member k and consumer_group_size n given),
-- only streams with eventstore.consumer_group_member(stream_id, n) = k are returned: the
-- n members together get every event once, each stream in order to one member.
-- event_types (optional) keeps only events of those types.
-- Guarantees: ES400 for a NULL, empty or '-'-containing category, a max_count outside
-- 1..100000, a member outside 0..n-1 or only one of member and size; ES404 for a cursor
-- that is no event's position.
create or replace function eventstore.read_category(
    category text,
    after_position bigint default 0,
    max_count integer default 1000,
    consumer_group_member integer default null,
    consumer_group_size integer default null,
    event_types text[] default null
)
returns setof eventstore.recorded_event
language plpgsql
stable
set search_path = pg_catalog, pg_temp
as $$
declare
    p_category alias for $1;
    p_after alias for $2;
    p_max_count alias for $3;
    p_member alias for $4;
    p_size alias for $5;
    p_event_types alias for $6;
    v_transaction_id xid8;
begin
    if p_category is null or p_category = '' or strpos(p_category, '-') > 0 then
        raise exception using
            errcode = 'ES400',
            message = format('invalid category %s', coalesce(quote_literal(p_category), 'NULL')),
            hint = 'A category is the part of a stream id before its first ''-'', e.g. order for order-42.';
    end if;
    perform eventstore.check_max_count(p_max_count);
    if (p_member is null) <> (p_size is null)
       or p_size < 1 or p_member < 0 or p_member >= p_size then
        raise exception using
            errcode = 'ES400',
            message = format('consumer group member %s of size %s is invalid',
                             coalesce(p_member::text, 'NULL'), coalesce(p_size::text, 'NULL')),
            hint = 'Give both or neither; the member is 0-based: 0 <= member < size.';
    end if;
    v_transaction_id := eventstore.log_cursor(p_after);

    return query
        select e.stream_id, e.version, e.global_position, e.event_id, e.event_type,
               e.data, e.metadata, e.recorded_at
          from eventstore.events e
         where eventstore.category(e.stream_id) = p_category
           -- The category is repeated in the row comparison so that it is a range
           -- condition on events_category_idx (category, transaction_id, global_position).
           and (eventstore.category(e.stream_id), e.transaction_id, e.global_position)
               > (p_category, v_transaction_id, p_after)
           and e.transaction_id < pg_snapshot_xmin(pg_current_snapshot())
           and (p_size is null or eventstore.consumer_group_member(e.stream_id, p_size) = p_member)
           and (p_event_types is null or e.event_type = any (p_event_types))
         order by eventstore.category(e.stream_id), e.transaction_id, e.global_position
         limit p_max_count;
end;
$$;

comment on function eventstore.read_category(text, bigint, integer, integer, integer, text[]) is
    'Up to max_count committed events of a category after the cursor, in global log order; optionally one consumer group member''s share.';
