-- eventstore.check_log_order(): the trigger function that refuses to write events that
-- would sort before events already stored, and its trigger on eventstore.events (this file
-- is the trigger's one home).
--
-- The global log is ordered by the 64-bit transaction ids (xid8) recorded in
-- events.transaction_id. A cluster restored from pg_dump starts its transaction ids low
-- again, so without care new events would sort before old ones and a subscriber's cursor
-- would skip them for ever.
-- Guarantees: before every INSERT statement on eventstore.events, if the newest recorded
-- transaction id is not below the next transaction id this cluster will assign (the xmax
-- of the current snapshot; the own transaction's id when that is newer), the statement
-- fails with ES503 and nothing is written; the hint gives the pg_resetwal epoch that fixes
-- it (docs/operations.md, "Restoring from pg_dump"). In a cluster that assigned every
-- recorded id itself this never fires: every recorded id is an id already assigned.
create or replace function eventstore.check_log_order()
returns trigger
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
declare
    v_newest xid8;
begin
    select max(e.transaction_id) into v_newest from eventstore.events e;
    if v_newest >= pg_snapshot_xmax(pg_current_snapshot()) and v_newest > pg_current_xact_id() then
        raise exception using
            errcode = 'ES503',
            message = format('this cluster''s transaction ids (now %s) are behind the newest event''s (%s): '
                             'new events would sort before stored ones',
                             pg_current_xact_id(), v_newest),
            hint = format('The database was restored into another cluster. Stop the server, run '
                          'pg_resetwal -e %s -D <data directory>, start it again '
                          '(docs/operations.md, "Restoring from pg_dump").',
                          div(v_newest::text::numeric, 4294967296) + 1);
    end if;
    return null;
end;
$$;

comment on function eventstore.check_log_order() is
    'Trigger function: refuses (ES503) inserting events while the cluster''s transaction ids are behind the stored ones.';

create or replace trigger events_check_log_order
    before insert on eventstore.events
    for each statement execute function eventstore.check_log_order();
