-- eventstore.check_max_count(max_count): raises ES400 unless max_count is 1..100000.
--
-- Guarantees: the one home of the page-size limit shared by every reading function.
create or replace function eventstore.check_max_count(max_count integer)
returns void
language plpgsql
immutable
parallel safe
set search_path = pg_catalog, pg_temp
as $$
begin
    if $1 is null or $1 not between 1 and 100000 then
        raise exception using
            errcode = 'ES400',
            message = format('max_count must be between 1 and 100000, got %s', coalesce($1::text, 'NULL')),
            hint = 'Read long streams in pages: continue from the version after the last one returned.';
    end if;
end;
$$;

comment on function eventstore.check_max_count(integer) is
    'Raises ES400 unless the page size is between 1 and 100000.';
