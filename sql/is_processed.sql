-- eventstore.is_processed(checkpoint, event_position): has a consumer whose checkpoint (the
-- global_position of the last event it processed, 0 for none) is `checkpoint` processed
-- the event at global position event_position?
--
-- Positions are not in log order (a transaction that started earlier takes smaller
-- positions but may commit later), so `event_position <= checkpoint` is NOT the answer; the
-- answer is whether the event sorts at or before the checkpoint's event in the global
-- order (transaction_id, global_position).
-- Guarantees: false for checkpoint 0 and for an event_position with no committed event visible
-- to the caller; ES400 for NULL or negative arguments or an event_position of 0; ES404 for a
-- checkpoint that is no event's position.
create or replace function eventstore.is_processed(checkpoint bigint, event_position bigint)
returns boolean
language plpgsql
stable
set search_path = pg_catalog, pg_temp
as $$
declare
    p_checkpoint alias for $1;
    p_position alias for $2;
    v_checkpoint_xid xid8;
    v_position_xid xid8;
begin
    if p_position is null or p_position < 1 then
        raise exception using
            errcode = 'ES400',
            message = format('event_position must be an event''s global position (>= 1), got %s',
                             coalesce(p_position::text, 'NULL'));
    end if;
    v_checkpoint_xid := eventstore.log_cursor(p_checkpoint);
    select e.transaction_id into v_position_xid
      from eventstore.events e
     where e.global_position = p_position;
    if not found then
        return false;
    end if;
    return (v_position_xid, p_position) <= (v_checkpoint_xid, p_checkpoint);
end;
$$;

comment on function eventstore.is_processed(bigint, bigint) is
    'True when the event at event_position sorts at or before the checkpoint''s event in the global log order.';
