-- eventstore.readable_data(data, metadata): the data every reader returns for a stored
-- event: personal fields decrypted (eventstore.decrypt_personal_data) when the metadata
-- names a data subject, the stored data itself otherwise.
--
-- Guarantees: an event whose metadata has no "$subject" key costs one jsonb key test and
-- nothing else (no call, no table read). Inlined into the readers: a SQL-standard body
-- (names bound when it is created), no SET clause and SECURITY INVOKER (grants.sql keeps it
-- so); decrypt_personal_data then runs as its owner, and callers need no right to it.
create or replace function eventstore.readable_data(data jsonb, metadata jsonb)
returns jsonb
language sql
stable
return case when $2 operator(pg_catalog.?) '$subject' then eventstore.decrypt_personal_data($1, $2)
            else $1 end;

comment on function eventstore.readable_data(jsonb, jsonb) is
    'The data readers return: decrypted personal fields when the metadata names a "$subject", the stored data otherwise.';
