-- eventstore.append_in_snapshot(stream_id, expected_version, events): append_to_stream for
-- a REPEATABLE READ or SERIALIZABLE transaction, which append_to_stream hands itself to.
--
-- Such a transaction reads one snapshot for its whole life. When another transaction
-- appended to the stream and committed after that snapshot was taken, the append finds
-- the version it means to write taken, and PostgreSQL refuses the write: with 23505 on
-- the (stream_id, version) key or 40001 (serialization failure). The stream moved on, but
-- this transaction cannot see where to. Guarantees: either error raised during the append
-- reaches the caller as the store's conflict error ES409 instead; DETAIL has
-- actual_version null (nothing newer is visible from this snapshot) and the HINT says to
-- retry in a new transaction. A SERIALIZABLE transaction may still fail at COMMIT with
-- 40001 because of what it read: PostgreSQL decides that after every function returned.
-- The append itself runs in a subtransaction, so a refused call writes nothing; every
-- other outcome is append_to_stream's own. READ COMMITTED callers never come here and pay nothing for it.
create or replace function eventstore.append_in_snapshot(
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
    v_constraint text;
    v_result eventstore.append_result;
begin
    -- Transaction-local, and undone with the subtransaction if the append fails: tells
    -- append_to_stream that it already runs under this guard.
    perform set_config('eventstore.append_in_snapshot', 'on', true);
    v_result := eventstore.append_to_stream(append_in_snapshot.stream_id,
                                            append_in_snapshot.expected_version,
                                            append_in_snapshot.events);
    perform set_config('eventstore.append_in_snapshot', 'off', true);
    return v_result;
exception when serialization_failure or unique_violation then
    get stacked diagnostics v_constraint = constraint_name;
    if v_constraint is distinct from 'events_stream_version_key' and sqlstate = '23505' then
        raise;
    end if;
    raise exception using
        errcode = 'ES409',
        message = format('wrong expected version for stream %s: a concurrent transaction changed what '
                         'this %s transaction read (PostgreSQL refused the write)',
                         quote_literal(append_in_snapshot.stream_id),
                         current_setting('transaction_isolation')),
        detail = json_build_object('stream_id', append_in_snapshot.stream_id,
                                   'expected_version', append_in_snapshot.expected_version,
                                   'actual_version', null)::text,
        hint = 'Roll back, then reload the stream, decide again and append in a new transaction.';
end;
$$;

comment on function eventstore.append_in_snapshot(text, bigint, jsonb) is
    'append_to_stream under REPEATABLE READ or SERIALIZABLE: a concurrent append surfaces as ES409, not 40001.';
