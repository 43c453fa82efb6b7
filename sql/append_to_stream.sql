-- eventstore.append_to_stream(stream_id, expected_version, events): append a batch of
-- events to one stream, all or nothing.
--
-- events: a non-empty JSON array (at most 10,000 elements) of objects with the keys
--   type (string, 1 to 255 characters), data (any JSON, at most 1 MiB),
--   metadata (optional JSON object) and id (optional uuid; generated when absent).
-- expected_version: NULL any; -1 the stream must have no events; -2 the stream must
--   exist; n >= 0 the stream's current version must be exactly n.
--
-- Guarantees:
-- * Versions are 0-based and gapless; global positions increase within the batch.
-- * Two writers with the same expectation on one stream: one wins, the other gets ES409
--   (never a unique violation, deadlock or serialization failure; in a REPEATABLE READ or
--   SERIALIZABLE transaction through eventstore.append_in_snapshot, with actual_version
--   null because the new version is not visible from the transaction's snapshot; a
--   SERIALIZABLE transaction can still fail at COMMIT, as any can).
--   A stream is its events: its version is the version of its last event (the unique
--   index on (stream_id, version) finds it). No lock of its own: the call reads the
--   stream, then inserts its first event with that version + 1 as the arbiter (ON
--   CONFLICT). Of writers that read the same version one stores it; the others wait for
--   its transaction, as for any unique key, and then see the version taken. Storing the
--   next version gives the call the versions after it, since every writer appends only
--   after a version it can see, so the batch's other events need no arbiter. Writers
--   wait only for an uncommitted event of their own stream: writers to other streams, of
--   the same category or not, never wait for each other. NULL and -2 read again after
--   losing a version and append after the winner.
-- * Idempotent retry: when every event carries an id and exactly those ids are stored in
--   this stream, in that order, directly after expected_version (anywhere for NULL and
--   -2), the original result is returned and nothing is written. A partial or
--   out-of-place match is ES409; an id stored in another stream is ES412. Twin retries
--   running at once race for the first version like any writers, and the loser then
--   finds the winner's batch and returns its result. Concurrent batches that share ids
--   in any order do not deadlock: one stores them, the other then gets ES412
--   (eventstore.append_with_ids, which a batch with an id after its first event goes
--   through).
-- * Errors: ES400 invalid argument, ES409 wrong expected version (DETAIL is a JSON object
--   with stream_id, expected_version and actual_version), ES410 tombstoned stream
--   (eventstore.tombstone_stream), ES412 duplicate event id,
--   25006 while this database receives the event log by logical replication
--   (eventstore.check_log_frame, at a session's first append). A failed call writes
--   nothing.
-- * Global log order: events are recorded with the transaction id (transaction_id)
--   greatest(eventstore.log_key(), the id recorded with the stream's last event), so an
--   older transaction appending after a newer one committed to the stream still sorts
--   after it in the gap-safe order (transaction_id, global_position) in which
--   eventstore.number_log gives the events their log numbers once they are readable.
-- * Stream lifecycle: after eventstore.delete_stream the stream is absent (-1 and NULL
--   append after the deletion, so versions continue); a last row that is a placeholder,
--   and every mismatch, are judged by eventstore.resolve_expected_version.
-- * Personal data: every event is stored with eventstore.stored_data, which seals the
--   personal fields of an event whose metadata names a "$subject" (its errors, ES400,
--   ES451 and ES452, refuse the whole batch).
-- * With the setting eventstore.notify = 'on', the transaction sends one NOTIFY on the
--   channel 'eventstore' (eventstore.notify_appended).
create or replace function eventstore.append_to_stream(
    stream_id text,
    expected_version bigint,
    events jsonb
)
returns eventstore.append_result
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
declare
    v_count integer := 1;
    v_ids uuid[];
    v_last bigint;
    v_prior_xid xid8;
    v_last_position bigint;
    v_inserted integer;
    v_duplicate uuid;
    v_other_stream text;
    v_result eventstore.append_result;
begin
    -- plpgsql sets up every expression again in each transaction, so this path is written
    -- in as few statements and calls as it can be. The common call (READ COMMITTED, one
    -- event without an id) passes one expression of inlined rules; any other (NULL
    -- arguments included) takes the checks below, which say what is wrong.
    if (current_setting('transaction_isolation') = 'read committed'
        and eventstore.stream_id_is_valid(append_to_stream.stream_id)
        and (append_to_stream.expected_version is null or append_to_stream.expected_version >= -2)
        and eventstore.is_plain_batch(append_to_stream.events)) is not true then
        if current_setting('transaction_isolation') <> 'read committed'
           and current_setting('eventstore.append_in_snapshot', true) is distinct from 'on' then
            return eventstore.append_in_snapshot(append_to_stream.stream_id,
                                                 append_to_stream.expected_version,
                                                 append_to_stream.events);
        end if;
        -- Decompressed once (#> '{}' is the value itself): a batch read from a table
        -- arrives compressed, and each read of it below would decompress all of it again.
        append_to_stream.events := append_to_stream.events #> '{}';
        -- An event after the first with an id can wait for a concurrent append while this
        -- one holds its first event: such a batch runs under eventstore.append_with_ids.
        if current_setting('eventstore.append_with_ids', true) is distinct from 'on'
           and append_to_stream.events @? '$[1 to last].id ? (@ != null)' then
            return eventstore.append_with_ids(append_to_stream.stream_id,
                                              append_to_stream.expected_version,
                                              append_to_stream.events);
        end if;
        -- Calls of void functions sit in IF conditions: plpgsql evaluates those as simple
        -- expressions, several times cheaper than PERFORM, which runs a whole query.
        if eventstore.check_stream_id(append_to_stream.stream_id) is null then end if;
        if append_to_stream.expected_version < -2 then
            raise exception using
                errcode = 'ES400',
                message = format('expected version must be NULL, -1, -2 or >= 0, got %s',
                                 append_to_stream.expected_version),
                hint = 'Use NULL for any version, -1 for no stream, -2 for an existing stream, '
                       'or the version of the stream''s last event.';
        end if;
        v_ids := eventstore.check_events(append_to_stream.events);
        v_count := jsonb_array_length(append_to_stream.events);
    end if;

    -- A session's first append checks the log frame (eventstore.log_key needs it).
    if coalesce(current_setting('eventstore.log_offset', true), '') = '' then
        if eventstore.check_log_frame() is null then end if;
    end if;

    -- A new stream needs no read for one event without an id: the insert finds an
    -- existing stream by its version 0 (the arbiter) and then writes nothing.
    if append_to_stream.expected_version = -1 and v_ids is null and v_count = 1 then
        insert into eventstore.events
            (stream_id, version, event_id, event_type, data, metadata, transaction_id)
        values (append_to_stream.stream_id, 0, gen_random_uuid(), append_to_stream.events -> 0 ->> 'type',
                eventstore.stored_data(append_to_stream.stream_id, append_to_stream.events -> 0 -> 'data',
                                       append_to_stream.events -> 0 -> 'metadata'),
                nullif(append_to_stream.events -> 0 -> 'metadata', 'null'::jsonb), eventstore.log_key())
        on conflict on constraint events_stream_version_key do nothing
        returning 0, global_position, global_position into v_result;
        if not found then
            return eventstore.append_to_deleted_stream(append_to_stream.stream_id, append_to_stream.events);
        end if;
    else
        -- Each round reads the stream with a new snapshot. A round ends early only when a
        -- concurrent writer took the version the first event wanted; the insert waited
        -- for that writer to commit, so the next round sees what it wrote: an exact
        -- expectation then fails on the version, NULL and -2 append after it, and a retry
        -- finds the batch its twin stored.
        loop
            select e.version, e.transaction_id, e.global_position
              into v_last, v_prior_xid, v_last_position
              from eventstore.events e
             where e.stream_id = append_to_stream.stream_id
             order by e.version desc
             limit 1;
            v_last := coalesce(v_last, -1);
            -- A retry is looked for after the read, so that a twin that committed before
            -- the read is found; an id stored in another stream (ES412) comes before a
            -- wrong version.
            if v_ids is not null and array_position(v_ids, null) is null then
                select * into v_result
                  from eventstore.find_stored_batch(append_to_stream.stream_id,
                                                    append_to_stream.expected_version, v_ids);
                if found then
                    return v_result;
                end if;
            end if;
            -- NULL (any version) matches whatever the stream holds; -2 any version but -1.
            -- A last row that is a lifecycle placeholder (negative position) is judged by
            -- eventstore.resolve_expected_version, like every mismatch.
            if (append_to_stream.expected_version <> v_last
                and not (append_to_stream.expected_version = -2 and v_last >= 0))
               or v_last_position < 0 then
                if eventstore.resolve_expected_version(append_to_stream.stream_id,
                                                       append_to_stream.expected_version,
                                                       v_last, v_last_position) is null then end if;
            end if;

            -- The first event decides: whoever stores the stream's next version owns the
            -- versions after it, because every writer appends only after a version it
            -- can see. Its id is an arbiter too, so a twin retry waits here, not in an
            -- error.
            insert into eventstore.events
                (stream_id, version, event_id, event_type, data, metadata, transaction_id)
            values (append_to_stream.stream_id, v_last + 1, coalesce(v_ids[1], gen_random_uuid()),
                    append_to_stream.events -> 0 ->> 'type',
                    eventstore.stored_data(append_to_stream.stream_id, append_to_stream.events -> 0 -> 'data',
                                           append_to_stream.events -> 0 -> 'metadata'),
                    nullif(append_to_stream.events -> 0 -> 'metadata', 'null'::jsonb),
                    greatest(eventstore.log_key(), v_prior_xid))
            on conflict do nothing
            returning global_position into v_result.first_position;
            exit when found;
            -- Not stored: a concurrent writer took the version, which the next round sees,
            -- or the first event's id is stored already. When every event has an id the
            -- next round's find_stored_batch judges that; for any other batch it is ES412.
            if v_ids[1] is not null and array_position(v_ids, null) is not null then
                select e.stream_id into v_other_stream from eventstore.events e where e.event_id = v_ids[1];
                if found then
                    if eventstore.raise_duplicate_event_id(v_ids[1], v_other_stream) is null then end if;
                end if;
            end if;
        end loop;
        v_result.stream_version := v_last + v_count;
        v_result.last_position := v_result.first_position;

        if v_count > 1 then
            -- The versions are this call's; only an id given twice can collide.
            with inserted as (
                insert into eventstore.events
                    (stream_id, version, event_id, event_type, data, metadata, transaction_id)
                select append_to_stream.stream_id,
                       v_last + x.n,
                       coalesce(v_ids[x.n], gen_random_uuid()),
                       x.event ->> 'type',
                       eventstore.stored_data(append_to_stream.stream_id, x.event -> 'data',
                                              x.event -> 'metadata'),
                       nullif(x.event -> 'metadata', 'null'::jsonb),
                       greatest(eventstore.log_key(), v_prior_xid)
                  from jsonb_array_elements(append_to_stream.events) with ordinality as x(event, n)
                 where x.n > 1
                 order by x.n
                on conflict on constraint events_event_id_key do nothing
                returning global_position
            )
            select count(*), max(i.global_position)
              into v_inserted, v_result.last_position
              from inserted i;

            if v_inserted < v_count - 1 then
                select e.event_id, e.stream_id
                  into v_duplicate, v_other_stream
                  from eventstore.events e
                 where e.event_id = any (v_ids)
                   -- not a row this call inserted a moment ago
                   and not (e.stream_id = append_to_stream.stream_id and e.version > v_last)
                 order by e.global_position
                 limit 1;
                if eventstore.raise_duplicate_event_id(v_duplicate, v_other_stream) is null then end if;
            end if;
        end if;
    end if;

    if eventstore.notify_appended() is null then end if;
    return v_result;
end;
$$;

comment on function eventstore.append_to_stream(text, bigint, jsonb) is
    'Appends a JSON array of events to a stream if its version matches expected_version; '
    'returns the new stream version and the global positions of the first and last event.';
