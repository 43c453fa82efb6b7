-- eventstore.save_snapshot(stream_id, version, state, schema_version): store the stream's
-- one snapshot if it is newer than the stored one.
--
-- Guarantees: returns true when stored, false when the stored snapshot is at the same or
-- a newer version (it is kept: the newer version always wins, whatever the order of
-- concurrent calls). ES404 when the stream has no events; ES400 for a version outside
-- 0..current version, a NULL state, a state larger than 16 MiB (uncompressed: pg_column_size
-- of the value as a literal, also when it is read from a table) or a schema_version below 1.
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
    p_stream_id alias for $1;
    p_version alias for $2;
    p_state alias for $3;
    p_schema_version alias for $4;
    v_current bigint;
    v_size integer;
    v_saved integer;
begin
    perform eventstore.check_stream_id(p_stream_id);
    if p_state is null then
        raise exception using
            errcode = 'ES400',
            message = 'snapshot state must not be NULL',
            hint = 'Pass the state as JSON; use ''null''::jsonb for an empty state.';
    end if;
    -- Measured decompressed (#> '{}' is the value itself): a state read from a table
    -- arrives compressed, and its stored size is not its size.
    v_size := pg_column_size(p_state #> '{}');
    if v_size > 16777216 then
        raise exception using
            errcode = 'ES400',
            message = format('snapshot state must be at most 16 MiB, got %s bytes', v_size),
            hint = 'Keep snapshots small: store only what rebuilding the state needs.';
    end if;
    if p_schema_version is null or p_schema_version < 1 then
        raise exception using
            errcode = 'ES400',
            message = format('snapshot schema_version must be >= 1, got %s', coalesce(p_schema_version::text, 'NULL'));
    end if;

    v_current := eventstore.stream_version(p_stream_id);
    if v_current = -1 then
        raise exception using
            errcode = 'ES404',
            message = format('stream %s does not exist', quote_literal(p_stream_id)),
            hint = 'A snapshot needs a stream with events: append to the stream first.';
    end if;
    if p_version is null or p_version not between 0 and v_current then
        raise exception using
            errcode = 'ES400',
            message = format('snapshot version must be between 0 and %s (the stream''s version), got %s',
                             v_current, coalesce(p_version::text, 'NULL')),
            hint = 'Snapshot the state as of a version the stream has reached.';
    end if;

    insert into eventstore.snapshots as s (stream_id, version, state, schema_version)
    values (p_stream_id, p_version, p_state, p_schema_version)
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
