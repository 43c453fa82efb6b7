-- 0011: personal data: crypto-shredding of a data subject's fields, and redaction of one
-- event (docs/personal-data.md).
--
-- An append whose metadata names a data subject ("$subject") has that subject's personal
-- fields stored encrypted with the subject's key (sql/seal_personal_data.sql); the readers
-- return them decrypted (eventstore.readable_data). Forgetting a subject destroys its key,
-- so its fields read as the redaction marker from then on, in every copy of the events.

-- pgcrypto (contrib; a trusted extension, so a database owner may create it) provides the
-- cipher. A database that has it already, in whatever schema, keeps it there: the function
-- files bind its functions when they are created (sql/encrypt_with_key.sql). Otherwise it
-- goes into a schema of its own, so that nobody can plant look-alikes next to it. A server
-- without the contrib modules gets the store without it: appends naming a data subject
-- fail with ES452 until pgcrypto is created and the function files are applied again.
do $$
begin
    if not exists (select from pg_catalog.pg_extension x where x.extname operator(pg_catalog.=) 'pgcrypto')
       and exists (select from pg_catalog.pg_available_extensions a
                    where a.name operator(pg_catalog.=) 'pgcrypto') then
        create schema if not exists eventstore_crypto;
        revoke all on schema eventstore_crypto from public;
        create extension pgcrypto with schema eventstore_crypto;
    end if;
end;
$$;

-- One row per data subject ever named by an append: its key while it is remembered, and
-- when and by whom it was forgotten afterwards. The key is 32 random bytes; forgetting sets
-- it NULL, which is what makes the subject's stored fields unreadable. The row itself stays,
-- so that later appends naming the subject are refused (ES451) instead of starting a key the
-- old events could be mistaken for. No role but the owner may read it (sql/grants.sql).
create table eventstore.subject_keys (
    subject text collate "C" primary key check (subject <> ''),
    key bytea check (octet_length(key) = 32),
    created_at timestamptz not null default now(),
    forgotten_at timestamptz,
    forgotten_by text,
    constraint subject_keys_forgotten_check
        check ((key is null) = (forgotten_at is not null) and (forgotten_at is null) = (forgotten_by is null))
);

comment on table eventstore.subject_keys is
    'Data subjects'' keys (NULL once forgotten) and who forgot them when; readable by the owner only.';

-- The audit of eventstore.redact_event: which event, what was replaced, who, when and why.
-- The replaced values are not kept anywhere.
create table eventstore.redactions (
    redaction_id bigint generated always as identity primary key,
    event_id uuid not null,
    redacted_data boolean not null,
    redacted_metadata boolean not null,
    reason text not null check (reason <> ''),
    redacted_at timestamptz not null default now(),
    redacted_by text not null
);

comment on table eventstore.redactions is
    'One row per eventstore.redact_event call: the event, what was replaced, who, when and why (never the old values).';

-- forget_subject finds the subject's streams (their snapshots may hold its data in clear)
-- without reading every event; plain events are not in this index.
create index events_subject_idx on eventstore.events ((metadata operator(pg_catalog.->>) '$subject'))
    where metadata operator(pg_catalog.?) '$subject';

-- What eventstore.forget_subject returns.
create type eventstore.forget_result as (
    subject text,
    forgotten_at timestamptz,
    events bigint,
    snapshots_deleted bigint
);

comment on type eventstore.forget_result is
    'The result of eventstore.forget_subject: when, how many of its events now read as redacted, how many snapshots were dropped.';

insert into eventstore.schema_migrations (migration_id) values ('0011.personal-data');
