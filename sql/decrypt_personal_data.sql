-- eventstore.decrypt_personal_data(data, metadata): a stored event's data as readers get
-- it: the personal fields decrypted with the key of the metadata's "$subject", or, when
-- that subject has been forgotten, each set to the redaction marker {"$redacted": true}.
--
-- Guarantees: data without "$ciphertext" is returned as it is (nothing was encrypted, or
-- the event was redacted). Otherwise "$ciphertext" never reaches the result:
-- * the subject has a key: exactly the data that was appended;
-- * it has none (forgotten, or never known to this database, e.g. a copy without the key
--   table): without "$personal" the marker itself; with it, the marker at each path of
--   eventstore.personal_paths present in the stored data, in order.
-- Never raises for a stored event (pgcrypto would only for ciphertext altered by hand).
create or replace function eventstore.decrypt_personal_data(data jsonb, metadata jsonb)
returns jsonb
language plpgsql
stable
set search_path = pg_catalog, pg_temp
as $$
declare
    c_marker constant jsonb := '{"$redacted": true}';
    v_ciphertext text := decrypt_personal_data.data ->> '$ciphertext';
    v_key bytea;
    v_sealed jsonb;
    v_path text[];
    v_index integer;
begin
    if v_ciphertext is null then
        return decrypt_personal_data.data;
    end if;
    select k.key into v_key
      from eventstore.subject_keys k
     where k.subject = decrypt_personal_data.metadata ->> '$subject';
    if v_key is not null then
        v_sealed := eventstore.decrypt_with_key(v_ciphertext, v_key)::jsonb;
        decrypt_personal_data.data := decrypt_personal_data.data - '$ciphertext';
        -- Expressions only, no query per field: each path is stored as a text[] literal.
        for v_index in reverse jsonb_array_length(v_sealed) - 1 .. 0 loop
            v_path := (v_sealed -> v_index ->> 0)::text[];
            if cardinality(v_path) = 0 then
                decrypt_personal_data.data := v_sealed -> v_index -> 1;
            else
                decrypt_personal_data.data := jsonb_set(decrypt_personal_data.data, v_path,
                                                        v_sealed -> v_index -> 1);
            end if;
        end loop;
        return decrypt_personal_data.data;
    end if;

    if not (decrypt_personal_data.metadata ? '$personal') then
        return c_marker;
    end if;
    decrypt_personal_data.data := decrypt_personal_data.data - '$ciphertext';
    for v_path in select x.path from eventstore.personal_paths(decrypt_personal_data.metadata) as x(path) loop
        if decrypt_personal_data.data #> v_path is not null then
            decrypt_personal_data.data := jsonb_set(decrypt_personal_data.data, v_path, c_marker);
        end if;
    end loop;
    return decrypt_personal_data.data;
end;
$$;

comment on function eventstore.decrypt_personal_data(jsonb, jsonb) is
    'A stored event''s data with its subject''s personal fields decrypted, or the marker {"$redacted": true} once forgotten.';
