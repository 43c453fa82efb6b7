-- eventstore.check_log_order(): refuses appends while the cluster's transaction ids are
-- behind the stored ones; eventstore.append_to_stream and eventstore.append_event call it
-- at the first append of every session.
--
-- The global log is ordered by the 64-bit transaction ids (xid8) recorded in
-- events.transaction_id. A cluster restored from pg_dump starts its transaction ids low
-- again, so without care new events would sort before old ones and a subscriber's cursor
-- would skip them for ever.
-- Guarantees: raises ES503 when the newest recorded transaction id is at or above the ids
-- this cluster has yet to assign (the xmax of the current snapshot) and is not this
-- transaction's own; the hint gives the pg_resetwal epoch that fixes it
-- (docs/operations.md, "Restoring from pg_dump"). Otherwise it sets
-- eventstore.log_order_checked = 'on' for the session, and the appends skip the
-- check from then on: a cluster's transaction ids only grow, and a restore into another
-- cluster always starts new sessions. The setting is the session's own, so a session can
-- skip the check by setting it: the check guards against an operator's mistake, not
-- against a writer. In a cluster that assigned every recorded id itself this never raises.
create or replace function eventstore.check_log_order()
returns void
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
declare
    v_newest xid8 := (select max(e.transaction_id) from eventstore.events e);
begin
    if v_newest >= pg_snapshot_xmax(pg_current_snapshot())
       and v_newest > coalesce(pg_current_xact_id_if_assigned(), '0'::xid8) then
        raise exception using
            errcode = 'ES503',
            message = format('this cluster''s transaction ids (now %s) are behind the newest event''s (%s): '
                             'new events would sort before stored ones',
                             pg_snapshot_xmax(pg_current_snapshot()), v_newest),
            hint = format('The database was restored into another cluster. Stop the server, run '
                          'pg_resetwal -e %s -D <data directory>, start it again '
                          '(docs/operations.md, "Restoring from pg_dump").',
                          div(v_newest::text::numeric, 4294967296) + 1);
    end if;
    perform set_config('eventstore.log_order_checked', 'on', false);
end;
$$;

comment on function eventstore.check_log_order() is
    'Raises ES503 while the cluster''s transaction ids are behind the stored ones; else marks the session as checked.';
