-- eventstore.redact_event(event_id, reason, data, metadata): replace one stored event's
-- data and/or metadata with the redaction marker {"$redacted": true}, in place.
--
-- Guarantees:
-- * The event keeps its stream, version, id, global position and log number; its type and
--   recorded_at stay too. data => true (the default) replaces data; metadata => true
--   replaces metadata, keeping only its "$subject" and "$personal" keys (they name no
--   personal data and the readers need them for the fields still encrypted in data).
-- * One row in eventstore.redactions records the event, what was replaced, the reason,
--   the time and the session's login role (session_user); the replaced values are kept
--   nowhere in the database (old row versions go with VACUUM; backups keep them, see
--   docs/personal-data.md).
-- * Readers that already read the event are sent nothing again; every later read returns
--   the marker. Redacting again replaces again and records again.
-- * ES400: a NULL event id, a NULL or empty reason, nothing to replace; ES404: no stored
--   event has this id.
-- It changes a stored event through the immutability rule's maintenance path
-- (eventstore.refuse_event_change), for this one statement only.
create or replace function eventstore.redact_event(
    event_id uuid,
    reason text,
    data boolean default true,
    metadata boolean default false
)
returns eventstore.redactions
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
declare
    c_marker constant jsonb := '{"$redacted": true}';
    v_metadata jsonb;
    v_permit text := current_setting('eventstore.permit_event_change', true);
    v_redaction eventstore.redactions;
begin
    if redact_event.event_id is null or redact_event.reason is null or redact_event.reason = '' then
        raise exception using
            errcode = 'ES400',
            message = 'event_id and a non-empty reason are required to redact an event',
            hint = 'Say why the event is redacted; the reason is recorded in eventstore.redactions.';
    end if;
    if (redact_event.data or redact_event.metadata) is not true then
        raise exception using
            errcode = 'ES400',
            message = 'nothing to redact: data and metadata are both false (or NULL)',
            hint = 'Pass data => true, metadata => true, or both.';
    end if;

    select e.metadata into v_metadata from eventstore.events e where e.event_id = redact_event.event_id;
    if not found then
        raise exception using
            errcode = 'ES404',
            message = format('no stored event has the id %s', redact_event.event_id),
            hint = 'Pass the id of a stored event (a reader returns it as event_id).';
    end if;

    perform set_config('eventstore.permit_event_change', 'on', true);
    update eventstore.events e
       set data = case when redact_event.data then c_marker else e.data end,
           metadata = case when redact_event.metadata
                           then c_marker || jsonb_strip_nulls(jsonb_build_object(
                                    '$subject', v_metadata -> '$subject',
                                    '$personal', v_metadata -> '$personal'))
                           else e.metadata end
     where e.event_id = redact_event.event_id;
    perform set_config('eventstore.permit_event_change', coalesce(v_permit, ''), true);

    insert into eventstore.redactions (event_id, redacted_data, redacted_metadata, reason, redacted_by)
    values (redact_event.event_id, coalesce(redact_event.data, false), coalesce(redact_event.metadata, false),
            redact_event.reason, session_user)
    returning * into v_redaction;
    return v_redaction;
end;
$$;

comment on function eventstore.redact_event(uuid, text, boolean, boolean) is
    'Replaces one event''s data and/or metadata with {"$redacted": true} in place (admin); records who, when and why.';
