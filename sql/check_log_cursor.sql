-- eventstore.check_log_cursor(after, after_event_id): refuses a cursor that is not a
-- place in this log.
--
-- A cursor is the log number of the last event a reader was given (0 or less: before
-- the first event; any number is a valid bound). With the id of that event it also says
-- which event it names. Guarantees: ES400 for a NULL cursor; ES419 when after_event_id is
-- given, after is at least 1, and the log's number `after` does not name that event (no
-- event has that number, or another one has): the log diverged from the one the cursor
-- was taken in, as after a failover to a standby that had not received the last commits.
-- A number not assigned yet is numbered first (eventstore.number_log), so a cursor taken
-- where numbering ran ahead is not mistaken for a divergence. On a hot standby, or a
-- logical subscriber (eventstore.log_is_replicated), a number not received yet is not a
-- divergence either: it has not caught up with the primary or publisher where the cursor
-- may have been taken.
create or replace function eventstore.check_log_cursor(after bigint, after_event_id uuid)
returns void
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
declare
    v_event_id uuid;
begin
    if check_log_cursor.after is null then
        raise exception using
            errcode = 'ES400',
            message = 'a log cursor must be a log number, got NULL',
            hint = 'Start from 0; then pass the log_number of the last event you were given.';
    end if;
    if check_log_cursor.after_event_id is null or check_log_cursor.after < 1 then
        return;
    end if;
    select l.event_id into v_event_id from eventstore.log l where l.log_number = check_log_cursor.after;
    -- A number not assigned yet here may still be assigned to that very event.
    if not found and eventstore.number_log() > 0 then
        select l.event_id into v_event_id from eventstore.log l where l.log_number = check_log_cursor.after;
    end if;
    if v_event_id is distinct from check_log_cursor.after_event_id
       and (found or not (pg_is_in_recovery() or eventstore.log_is_replicated())) then
        raise exception using
            errcode = 'ES419',
            message = format('log number %s names %s, not event %s: the log diverged from this cursor',
                             check_log_cursor.after, coalesce('event ' || v_event_id::text, 'no event'),
                             check_log_cursor.after_event_id),
            detail = json_build_object('log_number', check_log_cursor.after,
                                       'expected_event_id', check_log_cursor.after_event_id,
                                       'actual_event_id', v_event_id)::text,
            hint = 'The store lost or replaced events after this cursor (a failover to a standby '
                   'that had not received them, or a restore of an older backup): rebuild the '
                   'reader''s state from an earlier checkpoint, or move the checkpoint with '
                   'eventstore.save_checkpoint and its expected value.';
    end if;
end;
$$;

comment on function eventstore.check_log_cursor(bigint, uuid) is
    'ES419 when the log number no longer names the event the cursor remembers (the log diverged).';
