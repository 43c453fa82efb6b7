-- eventstore.record_tracking(tracker, upstream, notification_id): record that the
-- application `tracker` has processed the notification log of `upstream` up to
-- notification_id (eventstore.tracking), in the caller's transaction, so that it commits
-- or rolls back with the events the caller appends in it.
--
-- Guarantees: tracking only moves forward: stored only when notification_id is above the
-- recorded one (or none is recorded); otherwise ES409 and nothing changes (that
-- notification, or a later one, was processed already: processing it again would apply
-- it twice). Two transactions recording the same notification: the second waits for the
-- first and gets ES409 once it committed. ES400 for a NULL or empty (or longer than 255
-- characters) name, or a NULL notification_id. DETAIL of ES409 is a JSON object whose
-- actual_version is the recorded notification id (stream_id and expected_version null).
create or replace function eventstore.record_tracking(tracker text, upstream text, notification_id bigint)
returns void
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
declare
    v_recorded bigint;
begin
    if record_tracking.tracker is null or length(record_tracking.tracker) not between 1 and 255
       or record_tracking.upstream is null or length(record_tracking.upstream) not between 1 and 255 then
        raise exception using
            errcode = 'ES400',
            message = 'tracker and upstream must be names of 1 to 255 characters',
            hint = 'Name the applications, e.g. after their classes.';
    end if;
    if record_tracking.notification_id is null then
        raise exception using
            errcode = 'ES400',
            message = 'notification_id must not be NULL';
    end if;
    insert into eventstore.tracking as t (tracker, upstream, notification_id)
    values (record_tracking.tracker, record_tracking.upstream, record_tracking.notification_id)
    on conflict on constraint tracking_pkey
    do update set notification_id = excluded.notification_id, recorded_at = now()
       where t.notification_id < excluded.notification_id;
    if found then
        return;
    end if;
    select t.notification_id into v_recorded
      from eventstore.tracking t
     where t.tracker = record_tracking.tracker and t.upstream = record_tracking.upstream;
    raise exception using
        errcode = 'ES409',
        message = format('%s has processed notification %s of %s already: %s is not above it',
                         quote_literal(record_tracking.tracker), v_recorded,
                         quote_literal(record_tracking.upstream), record_tracking.notification_id),
        detail = json_build_object('stream_id', null, 'expected_version', null, 'actual_version', v_recorded)::text,
        hint = 'Skip that notification: it was processed (roll back what was done for it).';
end;
$$;

comment on function eventstore.record_tracking(text, text, bigint) is
    'Records that tracker processed upstream''s notifications up to notification_id; ES409 unless it moves forward.';
