-- eventstore.category_head(category): the newest log number of the category's events,
-- after numbering what is readable (eventstore.number_log); NULL when it has none.
--
-- Guarantees: eventstore.read_category(category, after => category_head(category)) reads
-- exactly the category's events numbered later. Numbered events are a prefix of the
-- order (transaction_id, global_position), so the newest numbered event of a category is
-- the first numbered one met reading events_category_idx backward: the cost is that of
-- the category's events not numbered yet, whatever the size of the store. NULL while a
-- logical subscription still copies the store's tables (eventstore.log_is_copying); ES400
-- for a NULL or empty category or one with a '-'.
create or replace function eventstore.category_head(category text)
returns bigint
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
begin
    if category_head.category is null or category_head.category = ''
       or strpos(category_head.category, '-') > 0 then
        raise exception using
            errcode = 'ES400',
            message = format('invalid category %s', coalesce(quote_literal(category_head.category), 'NULL')),
            hint = 'A category is the part of a stream id before its first ''-'', e.g. order for order-42.';
    end if;
    if eventstore.number_log() is null then end if;
    if eventstore.log_is_copying() then
        return null;
    end if;
    return (select l.log_number
              from eventstore.events e
              join eventstore.log l on l.global_position = e.global_position
             where eventstore.category(e.stream_id) = category_head.category
             order by eventstore.category(e.stream_id) desc, e.transaction_id desc, e.global_position desc
             limit 1);
end;
$$;

comment on function eventstore.category_head(text) is
    'The newest log number of a category''s events (after numbering what is readable); NULL when it has none.';
