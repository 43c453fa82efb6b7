-- eventstore.seal_personal_data(): the trigger function that stores a new event's personal
-- fields encrypted, and the trigger that attaches it to eventstore.events (this file is
-- the trigger's one home).
--
-- Guarantees: every event inserted with a metadata key "$subject" or "$personal" is stored
-- with the data eventstore.encrypt_personal_data returns (ES400, ES451 refuse the whole
-- append; "$personal" without "$subject" is ES400, never stored in clear as if it had
-- been encrypted); the trigger's WHEN clause, one jsonb key test, is the only cost for any
-- other event. It fires for the append
-- functions' inserts, not for rows applied by logical replication (those arrive encrypted),
-- and a restore (pg_restore, psql of a dump) loads the rows before it creates the trigger.
create or replace function eventstore.seal_personal_data()
returns trigger
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
begin
    new.data := eventstore.encrypt_personal_data(new.data, new.metadata);
    return new;
end;
$$;

comment on function eventstore.seal_personal_data() is
    'Trigger function: stores the personal fields of an event whose metadata names a "$subject" encrypted.';

create or replace trigger events_seal_personal_data
    before insert on eventstore.events
    for each row
    when (new.metadata operator(pg_catalog.?|) '{$subject,$personal}'::text[])
    execute function eventstore.seal_personal_data();
