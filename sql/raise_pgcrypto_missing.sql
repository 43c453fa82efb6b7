-- eventstore.raise_pgcrypto_missing(): the error of personal data on a server without
-- pgcrypto.
--
-- Guarantees: always raises ES452. The crypto functions (eventstore.encrypt_with_key,
-- decrypt_with_key, new_subject_key) are created calling it when the database has no
-- pgcrypto extension, so that the store installs and plain events work on a PostgreSQL
-- without the contrib modules, and an append naming a data subject fails with this
-- error instead of storing personal data in clear.
create or replace function eventstore.raise_pgcrypto_missing()
returns void
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
begin
    raise exception using
        errcode = 'ES452',
        message = 'personal data needs the pgcrypto extension, which this database does not have',
        hint = 'Install PostgreSQL''s contrib modules on the server, run "create extension pgcrypto" '
               '(in any schema), then "pgeventstore migrate" again.';
end;
$$;

comment on function eventstore.raise_pgcrypto_missing() is
    'Raises ES452: personal data needs pgcrypto (the crypto functions call it when the database has none).';
