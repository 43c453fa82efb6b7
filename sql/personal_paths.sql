-- eventstore.personal_paths(metadata): the paths of the personal fields an event's
-- metadata marks, in the order given.
--
-- metadata "$personal" is a non-empty JSON array whose elements are each a top-level key
-- (a string) or a path (a non-empty array of strings: object keys, or array indexes
-- written as strings), e.g. ["email", ["address", "street"]].
-- Guarantees: one text[] per element, in order; no rows when "$personal" is absent (the
-- whole of data is personal then); ES400 naming the element for anything else.
create or replace function eventstore.personal_paths(metadata jsonb)
returns setof text[]
language plpgsql
immutable
set search_path = pg_catalog, pg_temp
as $$
declare
    v_personal jsonb := personal_paths.metadata -> '$personal';
    v_element jsonb;
    v_index bigint;
begin
    if v_personal is null then
        return;
    end if;
    if jsonb_typeof(v_personal) <> 'array' or jsonb_array_length(v_personal) = 0 then
        raise exception using
            errcode = 'ES400',
            message = format('metadata "$personal" must be a non-empty JSON array of paths, got %s', v_personal),
            hint = 'List the personal fields, e.g. ["email", ["address", "street"]]; '
                   'leave "$personal" out to make the whole of data personal.';
    end if;
    for v_element, v_index in
        select x.element, x.n - 1 from jsonb_array_elements(v_personal) with ordinality as x(element, n)
    loop
        if jsonb_typeof(v_element) = 'string' then
            return next array[v_element #>> '{}'];
        elsif jsonb_typeof(v_element) = 'array' and jsonb_array_length(v_element) > 0
              and not jsonb_path_exists(v_element, '$[*] ? (@.type() != "string")') then
            return next array(select jsonb_array_elements_text(v_element));
        else
            raise exception using
                errcode = 'ES400',
                message = format('metadata "$personal"[%s] must be a key or a non-empty array of keys, got %s',
                                 v_index, v_element),
                hint = 'A path is a top-level key ("email") or an array of keys (["address", "street"]).';
        end if;
    end loop;
end;
$$;

comment on function eventstore.personal_paths(jsonb) is
    'The paths of the personal fields marked by an event''s metadata "$personal" (ES400 when malformed).';
