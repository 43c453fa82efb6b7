-- eventstore.version(): the id of the newest migration installed in this database.
--
-- Guarantees: the same answer whichever install path (yoyo or the DBA script) was used.
create or replace function eventstore.version()
returns text
language sql
stable
parallel safe
set search_path = pg_catalog, pg_temp
return (select m.migration_id
        from eventstore.schema_migrations m
        order by m.migration_id desc
        limit 1);

comment on function eventstore.version() is
    'The installed schema version: the id of the newest applied migration, e.g. ''0001.initial-schema''.';
