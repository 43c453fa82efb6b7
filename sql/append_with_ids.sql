-- eventstore.append_with_ids(stream_id, expected_version, events): append_to_stream for a
-- batch in which an event after the first carries an id; append_to_stream hands such a
-- batch to it.
--
-- An append holds each event it inserted until its transaction ends, and an insert of
-- an id that a concurrent, uncommitted append inserted waits for that append. Two appends
-- whose batches share ids in crossed order ([X, Y] and [Y, X]) can thus each hold one and
-- wait for the other, a cycle PostgreSQL breaks after deadlock_timeout by failing one of
-- them with 40P01 (deadlock_detected).
--
-- Guarantees: the append runs in a subtransaction. When PostgreSQL fails it for a
-- deadlock, its events are undone, which lets the other append go on; then it waits,
-- holding nothing, until every concurrent transaction that holds one of its ids has ended,
-- and runs again, so it answers as append_to_stream does after the other append: its
-- result, or ES412 for an id the other append stored (ES409 for an idempotent retry that
-- now matches in part). Every other outcome is append_to_stream's own; a failed call
-- writes nothing. A cycle can form again only with yet another concurrent append, or
-- through locks the caller's transaction took before this call; after the third deadlock
-- in a row, 40P01 reaches the caller (appends to several streams in one transaction
-- should take the streams, and their ids, in a consistent order).
create or replace function eventstore.append_with_ids(
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
    v_result eventstore.append_result;
    v_id uuid;
begin
    for v_attempt in 1 .. 3 loop
        begin
            -- Transaction-local, and undone with the subtransaction if the append fails:
            -- tells append_to_stream that it already runs under this guard.
            perform set_config('eventstore.append_with_ids', 'on', true);
            v_result := eventstore.append_to_stream(append_with_ids.stream_id,
                                                    append_with_ids.expected_version,
                                                    append_with_ids.events);
            perform set_config('eventstore.append_with_ids', 'off', true);
            return v_result;
        exception when deadlock_detected then
            if v_attempt = 3 then
                raise;
            end if;
        end;
        -- The other append goes on now, but would find this one holding its ids again if
        -- this one ran again at once. A row with the id, inserted in a subtransaction of
        -- its own and undone at once, waits for any transaction that holds the id, and
        -- holds nothing while it waits. The placeholder's version is one no stream
        -- reaches. The batch passed eventstore.check_events before it could deadlock, so
        -- its ids are uuids.
        for v_id in
            select distinct (x.event ->> 'id')::uuid
              from jsonb_array_elements(append_with_ids.events) as x(event)
             where x.event ->> 'id' is not null
        loop
            begin
                insert into eventstore.events (stream_id, version, event_id, event_type, data)
                values (append_with_ids.stream_id, 9223372036854775807, v_id, 'placeholder', 'null')
                on conflict do nothing;
                raise sqlstate 'ES000';
            exception when sqlstate 'ES000' then
                -- undone: the placeholder was only there to wait
            end;
        end loop;
    end loop;
end;
$$;

comment on function eventstore.append_with_ids(text, bigint, jsonb) is
    'append_to_stream for a batch with event ids: after a deadlock with a concurrent batch sharing ids it waits and appends again, never 40P01.';
