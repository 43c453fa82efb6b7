-- eventstore.encrypt_with_key(plaintext, key): plaintext encrypted with a data subject's
-- key, as base64 text (no line breaks) that fits in a JSON string.
--
-- Guarantees: OpenPGP symmetric encryption (pgcrypto's pgp_sym_encrypt: AES-256, a random
-- salt and IV per message, so equal plaintexts encrypt differently, an integrity check
-- (MDC), no compression), with the hex of the 32-byte
-- key as the passphrase; eventstore.decrypt_with_key with the same key returns plaintext.
-- NULL for a NULL argument. pgcrypto stays wherever the database has it: this file finds
-- its schema and binds its function when it creates this one (a SQL-standard body), so no
-- search_path, at creation or at a call, can redirect it. Without pgcrypto in the database
-- it raises ES452 (eventstore.raise_pgcrypto_missing).
do $do$
declare
    v_schema text;
begin
    select n.nspname into v_schema
      from pg_catalog.pg_extension x
      join pg_catalog.pg_namespace n on n.oid operator(pg_catalog.=) x.extnamespace
     where x.extname operator(pg_catalog.=) 'pgcrypto';
    if v_schema is null then
        create or replace function eventstore.encrypt_with_key(plaintext text, key bytea)
        returns text
        language plpgsql
        volatile
        set search_path = pg_catalog, pg_temp
        as $function$
        begin
            perform eventstore.raise_pgcrypto_missing();
        end;
        $function$;
        return;
    end if;
    execute pg_catalog.format($function$
        create or replace function eventstore.encrypt_with_key(plaintext text, key bytea)
        returns text
        language sql
        volatile
        strict
        set search_path = pg_catalog, pg_temp
        return pg_catalog.translate(
                   pg_catalog.encode(
                       %1$I.pgp_sym_encrypt(encrypt_with_key.plaintext,
                                            pg_catalog.encode(encrypt_with_key.key, 'hex'),
                                            'cipher-algo=aes256, s2k-mode=1'),
                       'base64'),
                   E'\n', '')
        $function$, v_schema);
end;
$do$;

comment on function eventstore.encrypt_with_key(text, bytea) is
    'Encrypts text with a data subject''s key (pgcrypto OpenPGP, AES-256); base64 without line breaks.';
