-- eventstore.save_checkpoint(subscription, checkpoint, expected): store a subscription's
-- checkpoint, the global position of the last event it processed (0: none).
--
-- Without expected (NULL), the checkpoint only moves forward in the global log order
-- (eventstore.is_processed): true when stored (or already equal), false when the stored
-- checkpoint is already later, which is then kept. With expected, it is a
-- compare-and-set: stored, and true, only when the current checkpoint (0 when there is
-- none) equals expected; otherwise false and nothing changes. Naming the value it
-- replaces is also how a checkpoint is moved back, e.g. to 0 to rebuild a projection.
-- Either way a stale worker can neither move a checkpoint backwards nor overwrite a newer
-- one, and it learns that it lost from the false result. Concurrent calls serialize on
-- the subscription's row only.
-- Guarantees: ES400 for a NULL or empty (or longer than 255) subscription or a negative
-- position or expected; ES404 when checkpoint is neither 0 nor an event's position.
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
    p_subscription alias for $1;
    p_position alias for $2;
    p_expected alias for $3;
    v_current bigint;
begin
    if p_subscription is null or length(p_subscription) not between 1 and 255 then
        raise exception using
            errcode = 'ES400',
            message = 'a subscription name must be 1 to 255 characters',
            hint = 'Name each subscription once, e.g. after the read model it maintains.';
    end if;
    if p_expected < 0 then
        raise exception using
            errcode = 'ES400',
            message = format('expected must be NULL or a checkpoint >= 0, got %s', p_expected);
    end if;
    -- Validates the checkpoint (ES400/ES404) before anything is written.
    perform eventstore.log_cursor(p_position);

    if p_expected is not null then
        if p_expected = 0 then
            insert into eventstore.checkpoints as c (subscription, position)
            values (p_subscription, p_position)
            on conflict on constraint checkpoints_pkey do nothing;
            if found then
                return true;
            end if;
        end if;
        update eventstore.checkpoints c
           set position = p_position, updated_at = now()
         where c.subscription = p_subscription and c.position = p_expected;
        return found;
    end if;

    -- Forward only. The loop covers the race of two first saves: one inserts, the other
    -- sees the conflict and retries against the inserted row.
    loop
        select c.position into v_current
          from eventstore.checkpoints c
         where c.subscription = p_subscription
           for update;
        if not found then
            insert into eventstore.checkpoints as c (subscription, position)
            values (p_subscription, p_position)
            on conflict on constraint checkpoints_pkey do nothing;
            if found then
                return true;
            end if;
            continue;
        end if;
        if v_current = p_position then
            return true;
        end if;
        if v_current <> 0 and (p_position = 0 or eventstore.is_processed(v_current, p_position)) then
            return false;
        end if;
        update eventstore.checkpoints c
           set position = p_position, updated_at = now()
         where c.subscription = p_subscription;
        return true;
    end loop;
end;
$$;

comment on function eventstore.save_checkpoint(text, bigint, bigint) is
    'Stores a subscription''s checkpoint: forward only, or compare-and-set against expected; false when this caller lost.';
