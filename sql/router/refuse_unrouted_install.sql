-- eventstore_router.refuse_unrouted_install(): the router's functions are installed only
-- together with their routing.
--
-- Guarantees: in a router database, creating or altering a function of the schema
-- eventstore fails with ES501, and rolls back the whole transaction, unless the
-- transaction or session set eventstore_router.installing to 'on', as
-- `pgeventstore shard init` and `pgeventstore shard router-sql` do. So `pgeventstore
-- migrate` or an upgrade script run alone on a router, which would put the unrouted
-- functions back (reads of the router's own empty tables, answering nothing), changes
-- nothing instead.
select pg_catalog.set_config('eventstore_router.installing', 'on', true);

create or replace function eventstore_router.refuse_unrouted_install()
returns event_trigger
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
begin
    if current_setting('eventstore_router.installing', true) is distinct from 'on'
       and exists (select from pg_event_trigger_ddl_commands() c
                    where c.schema_name = 'eventstore' and c.object_type in ('function', 'procedure', 'routine')) then
        raise exception using
            errcode = 'ES501',
            message = 'this database is the router of a sharded store: its functions are installed with their routing',
            hint = 'Upgrade a router with pgeventstore shard init, never with migrate or an upgrade script alone.';
    end if;
end;
$$;

comment on function eventstore_router.refuse_unrouted_install() is
    'Event trigger: refuses (ES501) a change to the eventstore functions of a router made without its routing.';

drop event trigger if exists eventstore_router_install;

create event trigger eventstore_router_install on ddl_command_end
    execute function eventstore_router.refuse_unrouted_install();
