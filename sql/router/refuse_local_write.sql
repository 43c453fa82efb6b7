-- eventstore_router.refuse_local_write(): the router stores no events, snapshots or
-- checkpoints of its own.
--
-- Guarantees: any insert, update, delete or truncate of the router's copies of
-- eventstore.events, eventstore.snapshots and eventstore.checkpoints raises ES501, so a
-- write that misses the routing (an internal function of the store, such as
-- eventstore.append_with_ids, called on the router) fails loudly instead of landing there.
create or replace function eventstore_router.refuse_local_write()
returns trigger
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
begin
    raise exception using
        errcode = 'ES501',
        message = format('the router of a sharded store keeps no rows in %s.%s', tg_table_schema, tg_table_name),
        hint = 'Call the store''s API functions on the router; they run on the shards.';
end;
$$;

comment on function eventstore_router.refuse_local_write() is
    'Trigger: raises ES501 for a write to the router''s own (always empty) store tables.';

create or replace trigger router_refuse_write
    before insert or update or delete or truncate on eventstore.events
    for each statement execute function eventstore_router.refuse_local_write();

create or replace trigger router_refuse_write
    before insert or update or delete or truncate on eventstore.snapshots
    for each statement execute function eventstore_router.refuse_local_write();

create or replace trigger router_refuse_write
    before insert or update or delete or truncate on eventstore.checkpoints
    for each statement execute function eventstore_router.refuse_local_write();
