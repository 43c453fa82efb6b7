-- eventstore.encrypt_personal_data(data, metadata): an event's data as it is stored when
-- its metadata names a data subject ("$subject"): the subject's personal fields encrypted
-- with the subject's key.
--
-- Guarantees:
-- * "$subject" must be a non-empty string (ES400, also when only "$personal" is given). Its key is created on first use (one
--   key per subject, also when appends of a new subject race); a subject forgotten by
--   eventstore.forget_subject is refused with ES451.
-- * Without "$personal" the whole of data is personal: the result is
--   {"$ciphertext": "..."}. With "$personal" (eventstore.personal_paths) data must be a
--   JSON object without the key "$ciphertext" (ES400); each path present in data, taken in
--   order, is set to JSON null and its value goes into the ciphertext, which is added as
--   the key "$ciphertext". Paths absent from data are left absent; when none is present,
--   data is returned unchanged.
-- * The ciphertext holds the pairs [path, value] in that order, each path as the text of a
--   text[] ('{}' for the whole of data); eventstore.decrypt_personal_data restores them in
--   reverse order, which gives back exactly the data appended.
create or replace function eventstore.encrypt_personal_data(data jsonb, metadata jsonb)
returns jsonb
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
declare
    v_subject text := encrypt_personal_data.metadata ->> '$subject';
    v_key bytea;
    v_sealed jsonb := '[]';
    v_path text[];
begin
    if jsonb_typeof(encrypt_personal_data.metadata -> '$subject') is distinct from 'string'
       or v_subject = '' then
        raise exception using
            errcode = 'ES400',
            message = format('metadata "$subject" must be a non-empty string, got %s',
                             coalesce((encrypt_personal_data.metadata -> '$subject')::text, 'nothing')),
            hint = 'Name the data subject with an opaque id (a customer id), never with personal data itself.';
    end if;

    select k.key into v_key from eventstore.subject_keys k where k.subject = v_subject;
    if not found then
        -- A concurrent first append of the same subject may insert first: both then use
        -- its key (the insert waits for it to commit and does nothing).
        insert into eventstore.subject_keys (subject, key)
        values (v_subject, eventstore.new_subject_key())
        on conflict on constraint subject_keys_pkey do nothing;
        select k.key into v_key from eventstore.subject_keys k where k.subject = v_subject;
    end if;
    if v_key is null then
        raise exception using
            errcode = 'ES451',
            message = format('data subject %s has been forgotten: its personal data cannot be stored', v_subject),
            detail = jsonb_build_object('subject', v_subject)::text,
            hint = 'A forgotten subject stays forgotten; if the person comes back, give them a new subject id.';
    end if;

    if not (encrypt_personal_data.metadata ? '$personal') then
        return jsonb_build_object('$ciphertext',
                                  eventstore.encrypt_with_key(
                                      jsonb_build_array(jsonb_build_array('{}', encrypt_personal_data.data))::text,
                                      v_key));
    end if;
    if jsonb_typeof(encrypt_personal_data.data) is distinct from 'object'
       or encrypt_personal_data.data ? '$ciphertext' then
        raise exception using
            errcode = 'ES400',
            message = 'data must be a JSON object without the key "$ciphertext" when metadata "$personal" names fields',
            hint = 'Leave "$personal" out to make the whole of data personal.';
    end if;
    for v_path in select x.path from eventstore.personal_paths(encrypt_personal_data.metadata) as x(path) loop
        if encrypt_personal_data.data #> v_path is not null then
            v_sealed := v_sealed || jsonb_build_array(jsonb_build_array(v_path::text,
                                                                        encrypt_personal_data.data #> v_path));
            encrypt_personal_data.data := jsonb_set(encrypt_personal_data.data, v_path, 'null');
        end if;
    end loop;
    if jsonb_array_length(v_sealed) = 0 then
        return encrypt_personal_data.data;
    end if;
    return encrypt_personal_data.data
           || jsonb_build_object('$ciphertext', eventstore.encrypt_with_key(v_sealed::text, v_key));
end;
$$;

comment on function eventstore.encrypt_personal_data(jsonb, jsonb) is
    'An event''s data with the personal fields of its metadata "$subject" encrypted with the subject''s key (ES451 once forgotten).';
