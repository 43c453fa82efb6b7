-- eventstore.check_stream_id(stream_id): raises ES400 unless stream_id is a valid stream id.
--
-- Guarantees: returns normally only for a non-NULL id of 1 to 255 characters with no
-- control characters (U+0001 to U+001F, U+007F to U+009F, whatever the locale). Every function taking a stream id calls it first, so the rule has
-- one home.
create or replace function eventstore.check_stream_id(stream_id text)
returns void
language plpgsql
immutable
parallel safe
set search_path = pg_catalog, pg_temp
as $$
declare
    p_stream_id alias for $1;
begin
    if p_stream_id is null then
        raise exception using
            errcode = 'ES400',
            message = 'stream id must not be NULL',
            hint = 'Pass a stream id of 1 to 255 characters, e.g. ''order-123''.';
    end if;
    if length(p_stream_id) not between 1 and 255 then
        raise exception using
            errcode = 'ES400',
            message = format('stream id must be 1 to 255 characters long, got %s', length(p_stream_id)),
            hint = 'Use a shorter stream id, e.g. a category and an entity id: ''order-123''.';
    end if;
    -- Explicit code points (C0, DEL, C1): [[:cntrl:]] follows the database's locale, which
    -- would make the set of valid ids depend on how the cluster was initialised.
    if p_stream_id ~ '[\u0001-\u001f\u007f-\u009f]' then
        raise exception using
            errcode = 'ES400',
            message = format('stream id %s contains a control character', quote_literal(p_stream_id)),
            hint = 'Stream ids may not contain control characters such as newlines or tabs.';
    end if;
end;
$$;

comment on function eventstore.check_stream_id(text) is
    'Raises ES400 unless the argument is a valid stream id (1 to 255 characters, no control characters).';
