-- eventstore.forget_subject(subject): forget a data subject: destroy its key, so that the
-- personal fields of every event naming it read as the redaction marker from now on.
--
-- Guarantees:
-- * The key is set NULL in eventstore.subject_keys, with the time and the session's login
--   role (session_user); nothing of the data is kept. A subject never named before is
--   recorded as forgotten too. Forgetting again changes nothing and returns the first
--   forgetting's time. ES400 for a NULL or empty subject.
-- * From the commit on, every reader (read_stream, load_stream, read_all, read_category)
--   returns the marker {"$redacted": true} for the subject's personal fields
--   (eventstore.decrypt_personal_data), and appends naming the subject fail with ES451. An
--   append that took the key before this call locked it stores an event that reads as
--   redacted too.
-- * Snapshots of the streams holding events of the subject are deleted (they may hold its
--   data in clear); load_stream then replays those streams from their first event.
-- * The result: the subject, when it was forgotten, how many stored events name it, and
--   how many snapshots were deleted. Stored events, their log numbers and the readers'
--   checkpoints do not change: no reader skips or fails.
create or replace function eventstore.forget_subject(subject text)
returns eventstore.forget_result
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
declare
    v_result eventstore.forget_result;
begin
    if forget_subject.subject is null or forget_subject.subject = '' then
        raise exception using
            errcode = 'ES400',
            message = 'subject must be a non-empty string',
            hint = 'Pass the id the events name in metadata "$subject".';
    end if;
    v_result.subject := forget_subject.subject;

    insert into eventstore.subject_keys as k (subject, key, forgotten_at, forgotten_by)
    values (forget_subject.subject, null, now(), session_user)
    on conflict on constraint subject_keys_pkey do update
        set key = null, forgotten_at = excluded.forgotten_at, forgotten_by = excluded.forgotten_by
        where k.key is not null
    returning k.forgotten_at into v_result.forgotten_at;
    if not found then
        select k.forgotten_at into v_result.forgotten_at
          from eventstore.subject_keys k
         where k.subject = forget_subject.subject;
    end if;

    -- The subject's events are in the streams its sealed appends recorded.
    select count(*) into v_result.events
      from eventstore.subject_streams t
      join eventstore.events e on e.stream_id = t.stream_id
     where t.subject = forget_subject.subject
       and e.metadata ->> '$subject' = forget_subject.subject;

    with deleted as (
        delete from eventstore.snapshots s
         using eventstore.subject_streams t
         where t.subject = forget_subject.subject
           and s.stream_id = t.stream_id
        returning 1
    )
    select count(*) into v_result.snapshots_deleted from deleted;
    return v_result;
end;
$$;

comment on function eventstore.forget_subject(text) is
    'Forgets a data subject: destroys its key (its personal fields read as {"$redacted": true}), records who and when, deletes its streams'' snapshots.';
