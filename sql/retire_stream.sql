-- eventstore.retire_stream(stream_id, expected_version, tombstone): the one home of
-- eventstore.delete_stream and eventstore.tombstone_stream.
--
-- Guarantees: with expected_version as for appends (NULL any, -1 no stream, -2 an
-- existing stream, n the stream's version), writes the placeholder '$deleted' (or
-- '$tombstone') at the version after the stream's last row, as an append would write
-- its first event: the unique (stream_id, version) key decides between it and
-- concurrent appends, so an append that read the same version fails with ES409 (or
-- ES410) and none slips in between. Then records the deletion (deleted_version) or the
-- tombstone in eventstore.stream_metadata, in the same transaction. Returns the
-- placeholder's version. ES409 for a wrong expected version, ES404 when deleting a
-- stream that reads as absent (tombstoning one is allowed), ES410 when the stream is
-- tombstoned already, ES400 for an invalid stream id or expected version.
create or replace function eventstore.retire_stream(stream_id text, expected_version bigint, tombstone boolean)
returns bigint
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
declare
    v_last bigint;
    v_last_position bigint;
    v_last_type text;
    v_actual bigint;
    v_version bigint;
begin
    perform eventstore.check_stream_id(retire_stream.stream_id);
    if retire_stream.expected_version < -2 or retire_stream.tombstone is null then
        raise exception using
            errcode = 'ES400',
            message = format('expected version must be NULL, -1, -2 or >= 0, got %s',
                             retire_stream.expected_version),
            hint = 'Use NULL for any version, or the stream''s version as you last read it.';
    end if;
    loop
        select e.version, e.global_position, e.event_type
          into v_last, v_last_position, v_last_type
          from eventstore.events e
         where e.stream_id = retire_stream.stream_id
         order by e.version desc
         limit 1;
        v_actual := case when v_last_position < 0
                         then eventstore.placeholder_version(retire_stream.stream_id, v_last, v_last_type)
                         else coalesce(v_last, -1) end;
        if retire_stream.expected_version <> v_actual
           and not (retire_stream.expected_version = -2 and v_actual >= 0) then
            if eventstore.raise_wrong_expected_version(retire_stream.stream_id, retire_stream.expected_version,
                                                       null, v_actual) is null then end if;
        end if;
        if v_actual = -1 and not retire_stream.tombstone then
            raise exception using
                errcode = 'ES404',
                message = format('stream %s does not exist', quote_literal(retire_stream.stream_id)),
                hint = 'Only a stream with events can be deleted; a tombstone may also be set on an absent stream.';
        end if;
        insert into eventstore.events
            (global_position, stream_id, version, event_id, event_type, data, transaction_id)
        overriding system value
        values (-nextval('eventstore.events_global_position_seq'), retire_stream.stream_id,
                coalesce(v_last, -1) + 1,
                gen_random_uuid(), case when retire_stream.tombstone then '$tombstone' else '$deleted' end,
                'null'::jsonb, '0'::xid8)
        on conflict on constraint events_stream_version_key do nothing
        returning version into v_version;
        exit when found;
    end loop;

    insert into eventstore.stream_metadata as m (stream_id, deleted_version, tombstoned)
    values (retire_stream.stream_id, case when retire_stream.tombstone then null else v_version end,
            retire_stream.tombstone)
    on conflict on constraint stream_metadata_pkey
    do update set deleted_version = coalesce(excluded.deleted_version, m.deleted_version),
                  tombstoned = m.tombstoned or excluded.tombstoned,
                  updated_at = now();
    return v_version;
end;
$$;

comment on function eventstore.retire_stream(text, bigint, boolean) is
    'Writes a deletion or tombstone placeholder after the stream''s last row if the expected version matches; returns its version.';
