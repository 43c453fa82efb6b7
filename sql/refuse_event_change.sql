-- eventstore.refuse_event_change(): the trigger function that keeps stored events and
-- their log numbers immutable, and the triggers that attach it to eventstore.events and
-- eventstore.log (this file is the triggers' one home: they are re-created with the
-- function on every install).
--
-- Guarantees: every UPDATE, DELETE and TRUNCATE statement on eventstore.events or
-- eventstore.log fails with
-- ES423, whoever runs it (the table owner and superusers included, and also with
-- session_replication_role = replica: the trigger is ENABLE ALWAYS), unless the
-- transaction set eventstore.permit_event_change to 'on' (set local ...) and the current
-- role is a member of eventstore_admin (superusers are). That explicit path exists for
-- maintenance functions such as a future lifecycle (archiving) job; nothing else uses it.
-- Only the owner can disable the trigger itself (ALTER TABLE), which is visible in DDL.
create or replace function eventstore.refuse_event_change()
returns trigger
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
begin
    if current_setting('eventstore.permit_event_change', true) = 'on'
       and pg_has_role(current_user, 'eventstore_admin', 'member') then
        return null;
    end if;
    raise exception using
        errcode = 'ES423',
        message = format('events are immutable: %s on eventstore.%s is refused', tg_op, tg_table_name),
        hint = 'Record a correcting event instead. Maintenance run by a member of eventstore_admin '
               'may set local eventstore.permit_event_change = on.';
end;
$$;

comment on function eventstore.refuse_event_change() is
    'Trigger function: refuses UPDATE, DELETE and TRUNCATE of events with ES423 (admin path: eventstore.permit_event_change).';

create or replace trigger events_refuse_change
    before update or delete or truncate on eventstore.events
    for each statement execute function eventstore.refuse_event_change();

alter table eventstore.events enable always trigger events_refuse_change;

create or replace trigger log_refuse_change
    before update or delete or truncate on eventstore.log
    for each statement execute function eventstore.refuse_event_change();

alter table eventstore.log enable always trigger log_refuse_change;
