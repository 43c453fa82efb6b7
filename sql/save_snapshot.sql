-- eventstore.save_snapshot(stream_id, version, state, schema_version): store the stream's
-- one snapshot if it is newer than the stored one.
--
-- Guarantees: returns true when stored, false when the stored snapshot is at the same or
-- a newer version (it is kept: the newer version always wins, whatever the order of
-- concurrent calls). ES404 when the stream has no events; ES400 for a version outside
-- 0..current version, a NULL state, a state larger than 16 MiB (uncompressed: pg_column_size
-- of the value as a literal, also when it is read from a table) or a schema_version below 1.
-- In a REPEATABLE READ or SERIALIZABLE transaction, a snapshot that another transaction
-- saved and committed after this one's snapshot was taken cannot be seen, so whether it is
-- newer cannot be told, and PostgreSQL refuses to overwrite it: ES409 (DETAIL
-- actual_version null; nothing written), and the same call in a new transaction answers
-- true or false. The call itself never raises 40001 (serialization_failure); a
-- SERIALIZABLE transaction can still fail at COMMIT, as any can. Such a call runs in a
-- subtransaction; READ COMMITTED calls see every committed snapshot and need none.
create or replace function eventstore.save_snapshot(
    stream_id text,
    version bigint,
    state jsonb,
    schema_version integer default 1
)
returns boolean
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
declare
    v_current bigint;
    v_size integer;
    v_saved integer;
    v_stored boolean;
begin
    if current_setting('transaction_isolation') <> 'read committed'
       and current_setting('eventstore.save_snapshot_in_snapshot', true) is distinct from 'on' then
        begin
            -- Transaction-local, and undone with the subtransaction if the call fails:
            -- tells the inner call that it already runs under this guard.
            perform set_config('eventstore.save_snapshot_in_snapshot', 'on', true);
            v_stored := eventstore.save_snapshot(save_snapshot.stream_id, save_snapshot.version,
                                                 save_snapshot.state, save_snapshot.schema_version);
            perform set_config('eventstore.save_snapshot_in_snapshot', 'off', true);
            return v_stored;
        exception when serialization_failure then
            raise exception using
                errcode = 'ES409',
                message = format('could not save the snapshot of stream %s: a concurrent transaction changed '
                                 'what this %s transaction read (PostgreSQL refused the write)',
                                 quote_literal(save_snapshot.stream_id),
                                 current_setting('transaction_isolation')),
                detail = json_build_object('stream_id', save_snapshot.stream_id,
                                           'expected_version', null,
                                           'actual_version', null)::text,
                hint = 'Roll back, then save the snapshot again in a new transaction: the newer version wins.';
        end;
    end if;

    perform eventstore.check_stream_id(save_snapshot.stream_id);
    if save_snapshot.state is null then
        raise exception using
            errcode = 'ES400',
            message = 'snapshot state must not be NULL',
            hint = 'Pass the state as JSON; use ''null''::jsonb for an empty state.';
    end if;
    -- Measured decompressed (#> '{}' is the value itself): a state read from a table
    -- arrives compressed, and its stored size is not its size.
    v_size := pg_column_size(save_snapshot.state #> '{}');
    if v_size > 16777216 then
        raise exception using
            errcode = 'ES400',
            message = format('snapshot state must be at most 16 MiB, got %s bytes', v_size),
            hint = 'Keep snapshots small: store only what rebuilding the state needs.';
    end if;
    if save_snapshot.schema_version is null or save_snapshot.schema_version < 1 then
        raise exception using
            errcode = 'ES400',
            message = format('snapshot schema_version must be >= 1, got %s',
                             coalesce(save_snapshot.schema_version::text, 'NULL'));
    end if;

    v_current := eventstore.stream_version(save_snapshot.stream_id);
    if v_current = -1 then
        raise exception using
            errcode = 'ES404',
            message = format('stream %s does not exist', quote_literal(save_snapshot.stream_id)),
            hint = 'A snapshot needs a stream with events: append to the stream first.';
    end if;
    if save_snapshot.version is null or save_snapshot.version not between 0 and v_current then
        raise exception using
            errcode = 'ES400',
            message = format('snapshot version must be between 0 and %s (the stream''s version), got %s',
                             v_current, coalesce(save_snapshot.version::text, 'NULL')),
            hint = 'Snapshot the state as of a version the stream has reached.';
    end if;

    insert into eventstore.snapshots as s (stream_id, version, state, schema_version)
    values (save_snapshot.stream_id, save_snapshot.version, save_snapshot.state,
            save_snapshot.schema_version)
    on conflict on constraint snapshots_pkey
    do update set version = excluded.version,
                  state = excluded.state,
                  schema_version = excluded.schema_version,
                  recorded_at = now()
       where s.version < excluded.version;
    get diagnostics v_saved = row_count;
    return v_saved = 1;
end;
$$;

comment on function eventstore.save_snapshot(text, bigint, jsonb, integer) is
    'Upserts the stream''s snapshot; the newer version wins (returns false when an equal or newer one is kept).';
