-- eventstore.category_head(category): the newest log number of the category's events,
-- after numbering what is readable (eventstore.number_log); NULL when it has none.
--
-- Guarantees: eventstore.read_category(category, after => category_head(category)) reads
-- exactly the category's events numbered later. The log keeps each number's category, so
-- this is the last entry of the category in log_category_idx: one index lookup, whatever
-- the size of the store or of the category. NULL while a
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
    return (select max(l.log_number) from eventstore.log l where l.category = category_head.category);
end;
$$;

comment on function eventstore.category_head(text) is
    'The newest log number of a category''s events (after numbering what is readable); NULL when it has none.';
