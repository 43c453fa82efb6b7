-- eventstore.log_cursor(after_position): where a cursor stands in the global log order.
--
-- The global log is ordered by (transaction_id, global_position). A cursor is the
-- global_position of the last event a reader was given (0: before the first event); this
-- function returns the transaction_id recorded with that event ('0' for cursor 0), so a
-- reader continues at the events sorting after (transaction_id, after_position).
-- Guarantees: ES400 for a NULL or negative cursor; ES404 when no event has that position
-- (it cannot be a position a read returned).
create or replace function eventstore.log_cursor(after_position bigint)
returns xid8
language plpgsql
stable
set search_path = pg_catalog, pg_temp
as $$
declare
    p_after alias for $1;
    v_transaction_id xid8;
begin
    if p_after is null or p_after < 0 then
        raise exception using
            errcode = 'ES400',
            message = format('a cursor must be a global position >= 0, got %s', coalesce(p_after::text, 'NULL')),
            hint = 'Start from 0; then pass the global_position of the last event you were given.';
    end if;
    if p_after = 0 then
        return '0'::xid8;
    end if;
    select e.transaction_id into v_transaction_id
      from eventstore.events e
     where e.global_position = p_after;
    if not found then
        raise exception using
            errcode = 'ES404',
            message = format('no event has global position %s', p_after),
            hint = 'A cursor is the global_position of an event a read returned, or 0 for the start of the log.';
    end if;
    return v_transaction_id;
end;
$$;

comment on function eventstore.log_cursor(bigint) is
    'The transaction_id recorded with the event at a cursor position (''0'' for cursor 0); ES404 if there is none.';
