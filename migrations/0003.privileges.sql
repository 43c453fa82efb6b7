-- 0003: the roles a DBA grants to login roles. The grants themselves live in one place,
-- sql/grants.sql, which is re-applied after every install so that functions added later
-- are covered too.
--
-- Roles are cluster-wide while migrations run per database: a second database in the
-- same cluster finds the roles already there, so each is created only when absent (and a
-- concurrent install creating it first is not an error). All are NOLOGIN: they carry
-- privileges, a DBA grants them to the application's login roles.
--   eventstore_reader  calls the reading functions only
--   eventstore_writer  eventstore_reader + append, snapshots, checkpoints
--   eventstore_admin   eventstore_writer + every other function (maintenance included)
do $$
declare
    v_role text;
begin
    foreach v_role in array array['eventstore_reader', 'eventstore_writer', 'eventstore_admin'] loop
        if not exists (select from pg_catalog.pg_roles r where r.rolname = v_role) then
            begin
                execute pg_catalog.format('create role %I nologin', v_role);
            exception when duplicate_object then
                null;
            end;
        end if;
    end loop;
    if not pg_catalog.pg_has_role('eventstore_writer', 'eventstore_reader', 'member') then
        grant eventstore_reader to eventstore_writer;
    end if;
    if not pg_catalog.pg_has_role('eventstore_admin', 'eventstore_writer', 'member') then
        grant eventstore_writer to eventstore_admin;
    end if;
end;
$$;

comment on role eventstore_reader is
    'pgeventstore: may call the reading functions of the eventstore schema (grant it to login roles)';
comment on role eventstore_writer is
    'pgeventstore: eventstore_reader plus appends, snapshots and checkpoints';
comment on role eventstore_admin is
    'pgeventstore: eventstore_writer plus every other eventstore function, maintenance included';

insert into eventstore.schema_migrations (migration_id) values ('0003.privileges');
