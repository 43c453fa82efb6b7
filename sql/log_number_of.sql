-- eventstore.log_number_of(global_position): the log number of the event at a global
-- position, NULL while it has none (not readable yet, or no such event).
--
-- Cursors were global positions before log numbers existed (migration 0009 converted
-- the checkpoints stored in eventstore.checkpoints); a reader that kept its cursor
-- elsewhere converts it with this. Guarantees: read-only; it numbers nothing.
create or replace function eventstore.log_number_of(global_position bigint)
returns bigint
language sql
stable
set search_path = pg_catalog, pg_temp
return (select l.log_number from eventstore.log l where l.global_position = $1);

comment on function eventstore.log_number_of(bigint) is
    'The log number of the event at a global position (NULL while it has none): converts cursors kept as positions.';
