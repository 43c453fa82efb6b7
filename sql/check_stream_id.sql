-- eventstore.check_stream_id(stream_id): raises ES400 unless stream_id is a valid stream id.
--
-- Guarantees: returns normally exactly when eventstore.stream_id_is_valid (the rule's one
-- home) is true; otherwise ES400 whose message says what is wrong. Every function taking a
-- stream id calls it (append's fast path: the rule itself) before it reads or writes.
create or replace function eventstore.check_stream_id(stream_id text)
returns void
language plpgsql
stable
parallel safe
set search_path = pg_catalog, pg_temp
as $$
begin
    if not eventstore.stream_id_is_valid(check_stream_id.stream_id) then
        raise exception using
            errcode = 'ES400',
            message = case
                when check_stream_id.stream_id is null then
                    'stream id must not be NULL'
                when length(check_stream_id.stream_id) not between 1 and 255 then
                    format('stream id must be 1 to 255 characters long, got %s',
                           length(check_stream_id.stream_id))
                when left(check_stream_id.stream_id, 1) = '-' then
                    format('stream id %s starts with ''-''', quote_literal(check_stream_id.stream_id))
                else
                    format('stream id %s contains a control character',
                           quote_literal(check_stream_id.stream_id))
            end,
            hint = case
                when left(check_stream_id.stream_id, 1) = '-'
                     and length(check_stream_id.stream_id) <= 255 then
                    'A stream''s category is the part of its id before the first ''-'': this one''s '
                    'would be empty, and no category reader or consumer group could read its events. '
                    'Put the category first, e.g. ''order-123''.'
                else
                    'Pass a stream id of 1 to 255 characters without control characters, '
                    'e.g. a category and an entity id: ''order-123''.'
            end;
    end if;
end;
$$;

comment on function eventstore.check_stream_id(text) is
    'Raises ES400 unless the argument is a valid stream id (1 to 255 characters, no control characters, not starting with ''-'').';
