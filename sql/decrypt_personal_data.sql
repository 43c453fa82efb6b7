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
    p_data alias for $1;
    p_metadata alias for $2;
    c_marker constant jsonb := '{"$redacted": true}';
    v_ciphertext text := p_data ->> '$ciphertext';
    v_key bytea;
    v_sealed jsonb;
    v_path text[];
    v_index integer;
begin
    if v_ciphertext is null then
        return p_data;
    end if;
    select k.key into v_key from eventstore.subject_keys k where k.subject = p_metadata ->> '$subject';
    if v_key is not null then
        v_sealed := eventstore.decrypt_with_key(v_ciphertext, v_key)::jsonb;
        p_data := p_data - '$ciphertext';
        -- Expressions only, no query per field: each path is stored as a text[] literal.
        for v_index in reverse jsonb_array_length(v_sealed) - 1 .. 0 loop
            v_path := (v_sealed -> v_index ->> 0)::text[];
            if cardinality(v_path) = 0 then
                p_data := v_sealed -> v_index -> 1;
            else
                p_data := jsonb_set(p_data, v_path, v_sealed -> v_index -> 1);
            end if;
        end loop;
        return p_data;
    end if;

    if not (p_metadata ? '$personal') then
        return c_marker;
    end if;
    p_data := p_data - '$ciphertext';
    for v_path in select x.path from eventstore.personal_paths(p_metadata) as x(path) loop
        if p_data #> v_path is not null then
            p_data := jsonb_set(p_data, v_path, c_marker);
        end if;
    end loop;
    return p_data;
end;
$$;

comment on function eventstore.decrypt_personal_data(jsonb, jsonb) is
    'A stored event''s data with its subject''s personal fields decrypted, or the marker {"$redacted": true} once forgotten.';
