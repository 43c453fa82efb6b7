-- eventstore.stored_data(stream_id, data, metadata): the data an append stores for an
-- event: sealed by eventstore.seal_personal_data when the metadata has "$subject" or
-- "$personal", the data itself otherwise (also for a SQL NULL or JSON null metadata).
--
-- Guarantees: every insert of the append functions stores an event's data through it, so
-- no personal field is ever stored in clear; an event without those keys costs one jsonb
-- key test (no call, no table read). Inlined into the inserts like
-- eventstore.readable_data into the readers: a SQL-standard body, no SET clause and
-- SECURITY INVOKER (grants.sql keeps it so); seal_personal_data runs as its owner.
create or replace function eventstore.stored_data(stream_id text, data jsonb, metadata jsonb)
returns jsonb
language sql
volatile
return case when $3 operator(pg_catalog.?|) '{$subject,$personal}'::pg_catalog.text[]
            then eventstore.seal_personal_data($1, $2, $3)
            else $2 end;

comment on function eventstore.stored_data(text, jsonb, jsonb) is
    'The data an append stores: personal fields sealed when the metadata names a "$subject", the data itself otherwise.';
