-- eventstore.log_head(): the newest log number, after numbering what is readable
-- (eventstore.number_log); 0 when the log is empty.
--
-- Guarantees: a reader that starts after log_head() gets exactly the events numbered
-- later ("start from the end"). On a hot standby or a logical subscriber, the newest
-- number replicated so far; 0 while a logical subscription still copies the store's
-- tables (eventstore.log_is_copying), as read_all then reads nothing.
create or replace function eventstore.log_head()
returns bigint
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
begin
    if eventstore.number_log() is null then end if;
    if eventstore.log_is_copying() then
        return 0;
    end if;
    return coalesce((select max(l.log_number) from eventstore.log l), 0);
end;
$$;

comment on function eventstore.log_head() is
    'The newest log number (after numbering what is readable); 0 for an empty log.';
