-- eventstore.max_position(): no stored event has a global_position above the result
-- (NULL when the store has no event and the log no number).
--
-- Guarantees: at least the largest global_position of the stored events, found through
-- two index ranges, never a scan of the events: the events' primary key is their log
-- order (transaction_id, global_position), and the numbered events are a prefix of that
-- order, so every event is either numbered (the log's position index has its position)
-- or after the newest numbered one (a range of the primary key). A number whose event
-- is no longer stored can make the result larger than any stored position, never smaller.
create or replace function eventstore.max_position()
returns bigint
language plpgsql
stable
set search_path = pg_catalog, pg_temp
as $$
declare
    v_head eventstore.log;
begin
    select l.* into v_head from eventstore.log l order by l.log_number desc limit 1;
    return greatest(
        (select max(l.global_position) from eventstore.log l),
        (select max(e.global_position)
           from eventstore.events e
          where (e.transaction_id, e.global_position)
                > (coalesce(v_head.transaction_id, '0'::xid8), coalesce(v_head.global_position, 0))));
end;
$$;

comment on function eventstore.max_position() is
    'An upper bound of the stored events'' global positions, read from two index ranges.';
