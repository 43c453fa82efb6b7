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
--   Every call first takes the stream's transaction-scoped advisory lock (key
--   eventstore.stream_lock_key), then its row in eventstore.streams, always in that
--   order, so calls with and without ids cannot deadlock each other. Writers serialize
--   only on these two per-stream locks: writers to other streams, of the same category
--   or not, never wait for each other.
-- * Idempotent retry: when every event carries an id and exactly those ids are stored in
--   this stream, in that order, directly after expected_version (anywhere for NULL and
--   -2), the original result is returned and nothing is written. A partial or
--   out-of-place match is ES409; an id stored in another stream is ES412. The check runs
--   under the stream's advisory lock, so concurrent retries see each other.
-- * Errors: ES400 invalid argument, ES409 wrong expected version (DETAIL is a JSON object
--   with stream_id, expected_version and actual_version), ES412 duplicate event id.
--   A failed call writes nothing.
-- * Global log order: the events' transaction_id is greatest(this transaction's id, the
--   stream's log_transaction_id), stored back into the stream's row, so an older
--   transaction appending after a newer one committed to the stream still sorts after it
--   in (transaction_id, global_position) order (see migrations/0002.global-log.sql).
-- * With the setting eventstore.notify = 'on', the transaction sends one NOTIFY on the
--   channel 'eventstore' (PostgreSQL folds identical notifications of a transaction).
create or replace function eventstore.append_to_stream(
    stream_id text,
    expected_version bigint,
    events jsonb
)
returns table (stream_version bigint, first_position bigint, last_position bigint)
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
declare
    p_stream_id alias for $1;
    p_expected alias for $2;
    p_events alias for $3;
    v_count integer;
    v_ids uuid[];
    v_new_version bigint;
    v_log_xid xid8;
    v_inserted integer;
    v_first bigint;
    v_last bigint;
    v_duplicate uuid;
    v_other_stream text;
begin
    -- Calls of void functions sit in IF conditions: plpgsql evaluates those as simple
    -- expressions, several times cheaper than PERFORM, which runs a whole query
    -- (docs/performance.md has the numbers).
    if current_setting('transaction_isolation') <> 'read committed'
       and current_setting('eventstore.append_in_snapshot', true) is distinct from 'on' then
        return query select * from eventstore.append_in_snapshot(p_stream_id, p_expected, p_events);
        return;
    end if;
    if eventstore.check_stream_id(p_stream_id) is null then end if;
    if p_expected < -2 then
        raise exception using
            errcode = 'ES400',
            message = format('expected version must be NULL, -1, -2 or >= 0, got %s', p_expected),
            hint = 'Use NULL for any version, -1 for no stream, -2 for an existing stream, '
                   'or the version of the stream''s last event.';
    end if;

    v_ids := eventstore.check_events(p_events);
    v_count := jsonb_array_length(p_events);

    -- Taken whether or not the batch carries ids: a lock order that depended on the batch
    -- would let a retry and a plain append in two transactions deadlock on one stream.
    if pg_advisory_xact_lock(eventstore.stream_lock_key(p_stream_id)) is null then end if;

    if v_ids is not null and array_position(v_ids, null) is null then
        select r.stream_version, r.first_position, r.last_position
          into stream_version, first_position, last_position
          from eventstore.find_stored_batch(p_stream_id, p_expected, v_ids) r;
        if found then
            return next;
            return;
        end if;
    end if;

    if p_expected is null then
        insert into eventstore.streams as s (stream_id, version, log_transaction_id)
        values (p_stream_id, v_count - 1, pg_current_xact_id())
        on conflict on constraint streams_pkey
        do update set version = s.version + v_count, updated_at = now(),
                      log_transaction_id = greatest(s.log_transaction_id, pg_current_xact_id())
        returning s.version, s.log_transaction_id into v_new_version, v_log_xid;
    elsif p_expected = -1 then
        insert into eventstore.streams as s (stream_id, version, log_transaction_id)
        values (p_stream_id, v_count - 1, pg_current_xact_id())
        on conflict on constraint streams_pkey do nothing
        returning s.version, s.log_transaction_id into v_new_version, v_log_xid;
    elsif p_expected = -2 then
        update eventstore.streams s
           set version = s.version + v_count, updated_at = now(),
               log_transaction_id = greatest(s.log_transaction_id, pg_current_xact_id())
         where s.stream_id = p_stream_id
        returning s.version, s.log_transaction_id into v_new_version, v_log_xid;
    else
        update eventstore.streams s
           set version = s.version + v_count, updated_at = now(),
               log_transaction_id = greatest(s.log_transaction_id, pg_current_xact_id())
         where s.stream_id = p_stream_id and s.version = p_expected
        returning s.version, s.log_transaction_id into v_new_version, v_log_xid;
    end if;

    if v_new_version is null then
        perform eventstore.raise_wrong_expected_version(p_stream_id, p_expected);
    end if;

    if v_ids is null then
        -- Generated ids cannot collide, so these inserts need no ON CONFLICT arbiter (its
        -- pre-check probes the index once more per event), and one event needs no set
        -- function: together a third of the cost of a one-event append.
        if v_count = 1 then
            insert into eventstore.events
                (stream_id, version, event_id, event_type, data, metadata, transaction_id)
            values (p_stream_id,
                    v_new_version,
                    gen_random_uuid(),
                    p_events -> 0 ->> 'type',
                    p_events -> 0 -> 'data',
                    nullif(p_events -> 0 -> 'metadata', 'null'::jsonb),
                    v_log_xid)
            returning global_position into v_first;
            v_last := v_first;
        else
            with inserted as (
                insert into eventstore.events
                    (stream_id, version, event_id, event_type, data, metadata, transaction_id)
                select p_stream_id,
                       v_new_version - v_count + x.n,
                       gen_random_uuid(),
                       x.event ->> 'type',
                       x.event -> 'data',
                       nullif(x.event -> 'metadata', 'null'::jsonb),
                       v_log_xid
                  from jsonb_array_elements(p_events) with ordinality as x(event, n)
                 order by x.n
                returning global_position
            )
            select min(i.global_position), max(i.global_position)
              into v_first, v_last
              from inserted i;
        end if;
    else
        with inserted as (
            insert into eventstore.events
                (stream_id, version, event_id, event_type, data, metadata, transaction_id)
            select p_stream_id,
                   v_new_version - v_count + x.n,
                   coalesce(v_ids[x.n], gen_random_uuid()),
                   x.event ->> 'type',
                   x.event -> 'data',
                   nullif(x.event -> 'metadata', 'null'::jsonb),
                   v_log_xid
              from jsonb_array_elements(p_events) with ordinality as x(event, n)
             order by x.n
            on conflict on constraint events_event_id_key do nothing
            returning global_position
        )
        select count(*), min(i.global_position), max(i.global_position)
          into v_inserted, v_first, v_last
          from inserted i;

        if v_inserted < v_count then
            select e.event_id, e.stream_id
              into v_duplicate, v_other_stream
              from eventstore.events e
             where e.event_id = any (v_ids)
               -- not a row this statement inserted a moment ago
               and not (e.stream_id = p_stream_id and e.version > v_new_version - v_count)
             order by e.global_position
             limit 1;
            raise exception using
                errcode = 'ES412',
                message = format('event id %s is already stored in stream %s', v_duplicate, quote_literal(v_other_stream)),
                detail = json_build_object('event_id', v_duplicate, 'stream_id', v_other_stream)::text,
                hint = 'Give every new event a fresh id; reuse an id only to retry the very same append.';
        end if;
    end if;

    if current_setting('eventstore.notify', true) = 'on' then
        perform pg_notify('eventstore', '');
    end if;

    stream_version := v_new_version;
    first_position := v_first;
    last_position := v_last;
    return next;
end;
$$;

comment on function eventstore.append_to_stream(text, bigint, jsonb) is
    'Appends a JSON array of events to a stream if its version matches expected_version; '
    'returns the new stream version and the global positions of the first and last event.';
