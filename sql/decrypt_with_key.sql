-- eventstore.decrypt_with_key(ciphertext, key): the plaintext eventstore.encrypt_with_key
-- encrypted with this key.
--
-- Guarantees: the plaintext for a ciphertext made with this key; NULL for a NULL argument;
-- pgcrypto raises for another key or altered ciphertext (its integrity check). Bound to
-- pgcrypto's function when created, wherever its schema is (as encrypt_with_key); ES452
-- without pgcrypto.
do $do$
declare
    v_schema text;
begin
    select n.nspname into v_schema
      from pg_catalog.pg_extension x
      join pg_catalog.pg_namespace n on n.oid operator(pg_catalog.=) x.extnamespace
     where x.extname operator(pg_catalog.=) 'pgcrypto';
    if v_schema is null then
        create or replace function eventstore.decrypt_with_key(ciphertext text, key bytea)
        returns text
        language plpgsql
        stable
        set search_path = pg_catalog, pg_temp
        as $function$
        begin
            perform eventstore.raise_pgcrypto_missing();
        end;
        $function$;
        return;
    end if;
    execute pg_catalog.format($function$
        create or replace function eventstore.decrypt_with_key(ciphertext text, key bytea)
        returns text
        language sql
        stable
        strict
        set search_path = pg_catalog, pg_temp
        return %1$I.pgp_sym_decrypt(pg_catalog.decode(decrypt_with_key.ciphertext, 'base64'),
                                    pg_catalog.encode(decrypt_with_key.key, 'hex'))
        $function$, v_schema);
end;
$do$;

comment on function eventstore.decrypt_with_key(text, bytea) is
    'Decrypts what eventstore.encrypt_with_key encrypted with the same key.';
