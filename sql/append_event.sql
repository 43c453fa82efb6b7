-- eventstore.append_event(stream_id, expected_version, type, data, metadata, event_id):
-- append one event without building a JSON array.
--
-- Guarantees: exactly the semantics, result and errors of eventstore.append_to_stream
-- with the one-event batch {type, data, metadata, id} (a NULL type is ES400; a NULL data
-- is stored as JSON null; a JSON null metadata is stored as NULL).
-- The common call (READ COMMITTED, expected version -1 or n >= 0, no event id, arguments
-- that eventstore.is_plain_event admits) is written here; every other call is handed to
-- append_to_stream as that batch. The common call inserts with the version as the
-- arbiter, as append_to_stream inserts a batch's first event:
-- * -1: version 0, unless the stream has any event;
-- * n: version n + 1, selected from the stream's event n, so the insert both proves that
--   event exists and records greatest(this transaction's id, its transaction id); the
--   arbiter finds an event n + 1, and gapless versions make n the last one.
-- The common call runs only where the log frame's offset is 0 (eventstore.check_log_frame),
-- so it records pg_current_xact_id() itself as eventstore.log_key() would.
-- Nothing inserted hands the call to append_to_stream, which reads the stream and raises
-- ES409 (or ES410 for a tombstoned stream), or appends after a deletion. Reading the
-- stream is thus never a statement of its own on the common call.
create or replace function eventstore.append_event(
    stream_id text,
    expected_version bigint,
    type text,
    data jsonb,
    metadata jsonb default null,
    event_id uuid default null
)
returns eventstore.append_result
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
declare
    p_stream_id alias for $1;
    p_expected alias for $2;
    p_type alias for $3;
    p_data alias for $4;
    p_metadata alias for $5;
    p_event_id alias for $6;
    v_result eventstore.append_result;
begin
    <<common_call>>
    begin
        -- plpgsql sets up every function and operator of a condition in each transaction,
        -- whether or not it is reached, so the metadata rules have a condition of their
        -- own, set up only when there is metadata.
        exit common_call when (current_setting('transaction_isolation') = 'read committed'
                               and eventstore.stream_id_is_valid(p_stream_id)
                               and p_expected >= -1
                               and p_event_id is null
                               and eventstore.is_plain_event(p_type, p_data, null)
                               -- A session's first append checks the log frame in
                               -- append_to_stream; a frame with an offset goes there too.
                               and current_setting('eventstore.log_offset', true) = '0')
                              is not true;
        if p_metadata is not null then
            exit common_call when not eventstore.is_plain_event(p_type, p_data, p_metadata);
            -- Stored as NULL, as append_to_stream stores a JSON null metadata.
            p_metadata := nullif(p_metadata, 'null'::jsonb);
        end if;

        if p_expected = -1 then
            insert into eventstore.events
                (stream_id, version, event_id, event_type, data, metadata, transaction_id)
            values (p_stream_id, 0, gen_random_uuid(), p_type, coalesce(p_data, 'null'::jsonb),
                    p_metadata, pg_current_xact_id())
            on conflict on constraint events_stream_version_key do nothing
            returning 0, global_position, global_position
                 into v_result;
        else
            -- Every column is given, the identity's next value too, so that the insert
            -- reads event n directly, with no subquery node between.
            insert into eventstore.events
                (global_position, stream_id, version, event_id, event_type, data, metadata,
                 transaction_id, recorded_at)
            overriding system value
            -- e.version + 1, not p_expected + 1: computed only for a stored event, so the
            -- largest bigint as expected version is ES409, not an overflow.
            select nextval('eventstore.events_global_position_seq'), p_stream_id, e.version + 1,
                   gen_random_uuid(), p_type, coalesce(p_data, 'null'::jsonb), p_metadata,
                   greatest(pg_current_xact_id(), e.transaction_id), now()
              from eventstore.events e
             where e.stream_id = p_stream_id
               and e.version = p_expected
               -- not a lifecycle placeholder: append_to_stream judges those
               and e.global_position > 0
            on conflict on constraint events_stream_version_key do nothing
            returning version, global_position, global_position
                 into v_result;
        end if;
        -- Nothing inserted: append_to_stream reads the stream and says why (ES409, or
        -- ES410), or appends after a deletion.
        exit common_call when not found;

        if eventstore.notify_appended() is null then end if;
        return v_result;
    end;

    return eventstore.append_to_stream(
               p_stream_id, p_expected,
               jsonb_build_array(jsonb_build_object(
                   'type', p_type, 'data', coalesce(p_data, 'null'::jsonb),
                   'metadata', p_metadata, 'id', p_event_id)));
end;
$$;

comment on function eventstore.append_event(text, bigint, text, jsonb, jsonb, uuid) is
    'Appends one event; the same semantics, result and errors as append_to_stream with a one-event batch.';
