-- eventstore.max_tracking_id(tracker, upstream): the newest notification id of upstream
-- that tracker recorded with eventstore.record_tracking; NULL when none.
--
-- Guarantees: read-only; never raises for any names (an unknown pair is NULL).
create or replace function eventstore.max_tracking_id(tracker text, upstream text)
returns bigint
language sql
stable
set search_path = pg_catalog, pg_temp
return (select t.notification_id from eventstore.tracking t where t.tracker = $1 and t.upstream = $2);

comment on function eventstore.max_tracking_id(text, text) is
    'The newest notification id of upstream recorded by tracker (eventstore.record_tracking); NULL when none.';
