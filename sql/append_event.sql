-- eventstore.append_event(stream_id, expected_version, type, data, metadata, event_id):
-- append one event without building a JSON array.
--
-- Guarantees: exactly the semantics, result and errors of eventstore.append_to_stream
-- with the one-event batch {type, data, metadata, id} (a NULL type is ES400; a NULL data
-- is stored as JSON null; a JSON null metadata is stored as NULL).
-- The common call (READ COMMITTED, expected version -1 or n >= 0, no event id, arguments
-- that eventstore.is_plain_event admits, no personal data) is written here; every other
-- call is handed to append_to_stream as that batch. The common call inserts with the
-- version as the arbiter, as append_to_stream inserts a batch's first event:
-- * -1: version 0 of a stream id that eventstore.stream_id_is_valid admits, unless the
--   stream has any event;
-- * n: version n + 1, selected from the stream's event n, so the insert both proves that
--   event exists (and so that the stream id was admitted when it began) and records
--   greatest(this transaction's id, its transaction id); the arbiter finds an event
--   n + 1, and gapless versions make n the last one.
-- The common call runs only where the log frame's offset is 0 (eventstore.check_log_frame),
-- so it records pg_current_xact_id() itself as eventstore.log_key() would.
-- Nothing inserted hands the call to append_to_stream, which reads the stream and raises
-- ES409 (or ES400, or ES410 for a tombstoned stream), or appends after a deletion.
-- Reading the stream is thus never a statement of its own on the common call.
--
-- search_path: unlike the other SECURITY DEFINER functions, it has no SET clause (which
-- costs every call a configuration change and its undoing): every name in it, functions,
-- operators and types included, is qualified, so that no caller's search_path can
-- redirect it (pgtap_tests/50_search_path.sql calls it under a hostile one).
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
as $$
declare
    v_result eventstore.append_result;
begin
    <<common_call>>
    begin
        -- plpgsql sets up every function and operator of a condition in each transaction,
        -- whether or not it is reached, so each rule that only some calls need has a
        -- condition of its own, set up only when it is reached.
        exit common_call when (pg_catalog.current_setting('transaction_isolation')
                                   operator(pg_catalog.=) 'read committed'
                               and append_event.event_id is null
                               and eventstore.is_plain_event(append_event.type, append_event.data, null)
                               -- A session's first append checks the log frame in
                               -- append_to_stream; a frame with an offset goes there too.
                               and pg_catalog.current_setting('eventstore.log_offset', true)
                                   operator(pg_catalog.=) '0')
                              is not true;
        if append_event.metadata is not null then
            exit common_call when (eventstore.is_plain_event(append_event.type, append_event.data,
                                                             append_event.metadata)
                                   -- personal data is sealed by append_to_stream
                                   and not append_event.metadata
                                       operator(pg_catalog.?|) '{$subject,$personal}'::pg_catalog.text[])
                                  is not true;
            -- Stored as NULL, as append_to_stream stores a JSON null metadata.
            if append_event.metadata operator(pg_catalog.=) 'null'::pg_catalog.jsonb then
                append_event.metadata := null;
            end if;
        end if;

        if append_event.expected_version operator(pg_catalog.=) -1 then
            exit common_call when eventstore.stream_id_is_valid(append_event.stream_id) is not true;
            insert into eventstore.events
                (stream_id, version, event_id, event_type, data, metadata, transaction_id)
            values (append_event.stream_id, 0, pg_catalog.gen_random_uuid(), append_event.type,
                    coalesce(append_event.data, 'null'::pg_catalog.jsonb), append_event.metadata,
                    pg_catalog.pg_current_xact_id())
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
            -- e.version + 1, not expected_version + 1: computed only for a stored event, so
            -- the largest bigint as expected version is ES409, not an overflow.
            select pg_catalog.nextval('eventstore.events_global_position_seq'::pg_catalog.regclass),
                   append_event.stream_id, e.version operator(pg_catalog.+) 1,
                   pg_catalog.gen_random_uuid(), append_event.type,
                   coalesce(append_event.data, 'null'::pg_catalog.jsonb), append_event.metadata,
                   greatest(pg_catalog.pg_current_xact_id(), e.transaction_id), pg_catalog.now()
              from eventstore.events e
             where e.stream_id operator(pg_catalog.=) append_event.stream_id
               and e.version operator(pg_catalog.=) append_event.expected_version
               -- not a lifecycle placeholder: append_to_stream judges those
               and e.global_position operator(pg_catalog.>) 0
            on conflict on constraint events_stream_version_key do nothing
            returning version, global_position, global_position
                 into v_result;
        end if;
        -- Nothing inserted: append_to_stream reads the stream and says why (ES409, ES400,
        -- or ES410), or appends after a deletion.
        exit common_call when not found;

        if eventstore.notify_appended() is null then end if;
        return v_result;
    end;

    return eventstore.append_to_stream(
               append_event.stream_id, append_event.expected_version,
               pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
                   'type', append_event.type,
                   'data', coalesce(append_event.data, 'null'::pg_catalog.jsonb),
                   'metadata', append_event.metadata, 'id', append_event.event_id)));
end;
$$;

comment on function eventstore.append_event(text, bigint, text, jsonb, jsonb, uuid) is
    'Appends one event; the same semantics, result and errors as append_to_stream with a one-event batch.';
