-- eventstore.load_checkpoint(subscription): the subscription's checkpoint, the log
-- number of the last event it processed; 0 when it has none (read from the start).
--
-- Guarantees: never NULL; 0 for an unknown subscription, the value to pass as expected
-- to eventstore.save_checkpoint for its first save. ES419 when the log no longer has, at
-- that number, the event the checkpoint was saved with (eventstore.check_log_cursor: a
-- failover lost commits the subscription had processed): resuming would silently skip
-- or repeat events.
create or replace function eventstore.load_checkpoint(subscription text)
returns bigint
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
declare
    v_checkpoint eventstore.checkpoints;
begin
    select c.* into v_checkpoint from eventstore.checkpoints c where c.subscription = load_checkpoint.subscription;
    if not found then
        return 0;
    end if;
    perform eventstore.check_log_cursor(v_checkpoint.position, v_checkpoint.event_id);
    return v_checkpoint.position;
end;
$$;

comment on function eventstore.load_checkpoint(text) is
    'The subscription''s checkpoint (log number of the last event processed), 0 when it has none; ES419 if the log diverged.';
