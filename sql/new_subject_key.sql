-- eventstore.new_subject_key(): a new data subject key.
--
-- Guarantees: 32 bytes from pgcrypto's gen_random_bytes (the server's strong random
-- source), a new value on every call. Bound to pgcrypto's function when created, wherever
-- its schema is (as eventstore.encrypt_with_key); ES452 without pgcrypto.
do $do$
declare
    v_schema text;
begin
    select n.nspname into v_schema
      from pg_catalog.pg_extension x
      join pg_catalog.pg_namespace n on n.oid operator(pg_catalog.=) x.extnamespace
     where x.extname operator(pg_catalog.=) 'pgcrypto';
    if v_schema is null then
        create or replace function eventstore.new_subject_key()
        returns bytea
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
        create or replace function eventstore.new_subject_key()
        returns bytea
        language sql
        volatile
        set search_path = pg_catalog, pg_temp
        return %1$I.gen_random_bytes(32)
        $function$, v_schema);
end;
$do$;

comment on function eventstore.new_subject_key() is
    'A new 32-byte random key for a data subject (pgcrypto gen_random_bytes).';
