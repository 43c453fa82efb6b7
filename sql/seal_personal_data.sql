-- eventstore.seal_personal_data(stream_id, data, metadata): the data an event of the
-- stream is stored with when its metadata has "$subject" or "$personal": the subject's
-- personal fields encrypted (eventstore.encrypt_personal_data), and the stream recorded
-- as one of the subject's (eventstore.subject_streams, which eventstore.forget_subject reads).
--
-- Guarantees: every error of encrypt_personal_data (ES400, ES451, ES452) comes before
-- anything is recorded, and refuses the whole append. Called through
-- eventstore.stored_data by every insert of an append function, never for an event
-- without those keys.
create or replace function eventstore.seal_personal_data(stream_id text, data jsonb, metadata jsonb)
returns jsonb
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
declare
    v_sealed jsonb := eventstore.encrypt_personal_data(seal_personal_data.data, seal_personal_data.metadata);
begin
    insert into eventstore.subject_streams (subject, stream_id)
    values (seal_personal_data.metadata ->> '$subject', seal_personal_data.stream_id)
    on conflict on constraint subject_streams_pkey do nothing;
    return v_sealed;
end;
$$;

comment on function eventstore.seal_personal_data(text, jsonb, jsonb) is
    'The stored data of an event whose metadata names a "$subject": its personal fields encrypted; records the subject''s stream.';
