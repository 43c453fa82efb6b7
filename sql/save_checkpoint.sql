-- eventstore.save_checkpoint(subscription, checkpoint, expected): store a subscription's
-- checkpoint, the log number of the last event it processed (0: none), with the id of
-- that event.
--
-- Without expected (NULL), the checkpoint only moves forward: true when stored (or
-- already equal), false when the stored checkpoint is already later, which is then kept.
-- With expected, it is a compare-and-set: stored, and true, only when the current
-- checkpoint (0 when there is none) equals expected; otherwise false and nothing changes.
-- Naming the value it replaces is also how a checkpoint is moved back, e.g. to 0 to
-- rebuild a projection. Either way a stale worker can neither move a checkpoint backwards
-- nor overwrite a newer one, and it learns that it lost from the false result. Concurrent
-- calls serialize on the subscription's row only.
-- Guarantees: ES400 for a NULL or empty (or longer than 255) subscription, a NULL or
-- negative checkpoint or a negative expected; ES404 when checkpoint names no event yet
-- (above the newest log number: saving it would skip the events numbered up to it);
-- ES419 when moving forward from a stored checkpoint whose log number no longer names
-- the event it was saved with (eventstore.check_log_cursor: the log diverged); 25006
-- while the database receives the event log, checkpoints included, by logical
-- replication (eventstore.log_is_replicated). A failed call writes nothing.
create or replace function eventstore.save_checkpoint(
    subscription text,
    checkpoint bigint,
    expected bigint default null
)
returns boolean
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
declare
    v_event_id uuid;
    v_current eventstore.checkpoints;
begin
    if save_checkpoint.subscription is null or length(save_checkpoint.subscription) not between 1 and 255 then
        raise exception using
            errcode = 'ES400',
            message = 'a subscription name must be 1 to 255 characters',
            hint = 'Name each subscription once, e.g. after the read model it maintains.';
    end if;
    if save_checkpoint.checkpoint is null or save_checkpoint.checkpoint < 0 then
        raise exception using
            errcode = 'ES400',
            message = format('a checkpoint must be a log number >= 0, got %s',
                             coalesce(save_checkpoint.checkpoint::text, 'NULL')),
            hint = 'Save the log_number of the last event processed, or 0 for none.';
    end if;
    if save_checkpoint.expected < 0 then
        raise exception using
            errcode = 'ES400',
            message = format('expected must be NULL or a checkpoint >= 0, got %s', save_checkpoint.expected);
    end if;
    -- The checkpoints come from the publisher with the log: a row written here would be
    -- overwritten by the publisher's, or stop the replication on the conflict.
    if eventstore.log_is_replicated() then
        raise exception using
            errcode = '25006',
            message = 'this database receives the event log by logical replication: checkpoints are saved on the publisher',
            hint = 'Save checkpoints on the publisher (they are replicated here), or keep the reader''s cursor '
                   'until the cutover; then disable or drop the subscription (docs/moving.md, "Logical replication").';
    end if;
    if save_checkpoint.checkpoint > 0 then
        select l.event_id into v_event_id from eventstore.log l where l.log_number = save_checkpoint.checkpoint;
        if not found and eventstore.number_log() > 0 then
            select l.event_id into v_event_id from eventstore.log l where l.log_number = save_checkpoint.checkpoint;
        end if;
        if v_event_id is null then
            raise exception using
                errcode = 'ES404',
                message = format('no event has log number %s yet', save_checkpoint.checkpoint),
                hint = 'A checkpoint is the log_number of an event a read returned, or 0.';
        end if;
    end if;

    if save_checkpoint.expected is not null then
        if save_checkpoint.expected = 0 then
            insert into eventstore.checkpoints as c (subscription, position, event_id)
            values (save_checkpoint.subscription, save_checkpoint.checkpoint, v_event_id)
            on conflict on constraint checkpoints_pkey do nothing;
            if found then
                return true;
            end if;
        end if;
        update eventstore.checkpoints c
           set position = save_checkpoint.checkpoint, event_id = v_event_id, updated_at = now()
         where c.subscription = save_checkpoint.subscription and c.position = save_checkpoint.expected;
        return found;
    end if;
    -- Forward only. The loop covers the race of two first saves: one inserts, the other
    -- sees the conflict and retries against the inserted row.
    loop
        select c.* into v_current
          from eventstore.checkpoints c
         where c.subscription = save_checkpoint.subscription
           for update;
        if not found then
            insert into eventstore.checkpoints as c (subscription, position, event_id)
            values (save_checkpoint.subscription, save_checkpoint.checkpoint, v_event_id)
            on conflict on constraint checkpoints_pkey do nothing;
            if found then
                return true;
            end if;
            continue;
        end if;
        if v_current.position = save_checkpoint.checkpoint then
            return true;
        end if;
        if v_current.position > save_checkpoint.checkpoint then
            return false;
        end if;
        perform eventstore.check_log_cursor(v_current.position, v_current.event_id);
        update eventstore.checkpoints c
           set position = save_checkpoint.checkpoint, event_id = v_event_id, updated_at = now()
         where c.subscription = save_checkpoint.subscription;
        return true;
    end loop;
end;
$$;

comment on function eventstore.save_checkpoint(text, bigint, bigint) is
    'Stores a subscription''s checkpoint (a log number): forward only, or compare-and-set against expected; false when this caller lost.';
