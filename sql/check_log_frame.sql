-- eventstore.check_log_frame(): the offset this cluster adds to its transaction ids in
-- the global log (eventstore.log_frame), adopting the stored events first when they came
-- from another cluster. Called by an append the first time in a session, and by
-- eventstore.number_log; the result is kept in the session setting
-- eventstore.log_offset.
--
-- The log's gap-safe order is the transaction id each event records (eventstore.log_key).
-- A cluster that received its events from another one (pg_dump/restore, logical
-- replication after the cutover) assigns smaller ids than those stored. Guarantees:
-- * When the newest recorded id is at or above every id this cluster can have assigned
--   (the snapshot's xmax plus the offset), the offset is raised, once, under a lock on
--   the frame's row, to the newest recorded id minus the snapshot's xmin plus one: every
--   stored event is then readable at once, and every id assigned from now on records
--   above every stored one. No superuser, no file-system access, no pg_resetwal.
-- * The events' global_position sequence is moved past the largest stored position
--   (logical replication does not carry sequences), so appends do not collide: also a
--   sequence never used, and also when many sessions' first appends come at once (it is
--   moved under the frame row's lock, which the one session moving it holds until its
--   transaction ends; the others' first appends wait for that, once).
-- * 25006 (read_only_sql_transaction) while this database subscribes to the event log
--   (eventstore.log_is_replicated): append on the publisher, or cut over first.
-- In the cluster that wrote the events this finds the offset 0 and changes nothing. A
-- cluster's transaction ids only grow and a restored database starts new sessions, so a
-- session checks once.
create or replace function eventstore.check_log_frame()
returns bigint
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
declare
    v_offset bigint;
    v_ahead boolean;
    v_position bigint;
begin
    if eventstore.log_is_replicated() then
        raise exception using
            errcode = '25006',
            message = 'this database receives the event log by logical replication: appends are refused here',
            hint = 'Append on the publisher. At the cutover, disable or drop the subscription; '
                   'appends work here at once (docs/moving.md, "Logical replication").';
    end if;
    select f.xid_offset into v_offset from eventstore.log_frame f;
    if eventstore.log_frame_is_behind(v_offset) then
        -- Whoever takes the row first adopts; the others find the new offset.
        select f.xid_offset into v_offset from eventstore.log_frame f for update;
        -- One statement, one snapshot: the newest id and the snapshot it is compared with.
        select eventstore.log_frame_is_behind(v_offset),
               (f.newest::text::numeric - pg_snapshot_xmin(f.snapshot)::text::numeric + 1)::bigint
          into v_ahead, v_offset
          from (select pg_current_snapshot() as snapshot,
                       greatest((select max(e.transaction_id) from eventstore.events e),
                                (select max(l.transaction_id) from eventstore.log l)) as newest) f;
        if v_ahead then
            update eventstore.log_frame f set xid_offset = v_offset, adopted_at = now();
        else
            select f.xid_offset into v_offset from eventstore.log_frame f;
        end if;
    end if;
    -- The sequence is behind when its next value is a stored position. A sequence never
    -- called (a subscriber's) gives last_value itself next, one that was gives the one after.
    v_position := eventstore.max_position();
    if v_position >= (select s.last_value + s.is_called::integer from eventstore.events_global_position_seq s) then
        -- setval is not transactional: two sessions could each move it to the largest
        -- position they saw, the second after the first took a value past it, so that the
        -- next value is one taken. Under the frame row's lock, held to the end of the
        -- transaction, the sequence is read again and moved only while still behind.
        perform from eventstore.log_frame f for update;
        v_position := eventstore.max_position();
        if v_position >= (select s.last_value + s.is_called::integer
                            from eventstore.events_global_position_seq s) then
            perform setval('eventstore.events_global_position_seq', v_position);
        end if;
    end if;
    perform set_config('eventstore.log_offset', v_offset::text, false);
    return v_offset;
end;
$$;

comment on function eventstore.check_log_frame() is
    'The log frame''s transaction id offset, adopting events restored or replicated from another cluster first.';
